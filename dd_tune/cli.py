"""Turning user errors into one clear message and a non-zero exit (entry points only)."""

from __future__ import annotations

import sys
from typing import Callable

from dd_tune.errors import DDTuneError


def run_cli(body: Callable[[], int]) -> int:
    """Run a command body; a :class:`DDTuneError` becomes ``error: <message>`` and exit code 2."""
    try:
        return body()
    except DDTuneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
