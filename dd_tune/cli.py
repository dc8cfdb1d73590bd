"""Turning user errors into one clear message and a non-zero exit (entry points only)."""

from __future__ import annotations

import sys
from typing import Callable

from dd_tune.errors import DDTuneError


RESUME_HINT = "interrupted; finished work is kept: run the same command with --resume to continue"


def run_cli(body: Callable[[], int], on_interrupt: str = "interrupted") -> int:
    """Run a command body; a :class:`DDTuneError` becomes ``error: <message>`` and exit code 2,
    Ctrl-C prints ``on_interrupt`` and exits with 130."""
    try:
        return body()
    except DDTuneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(on_interrupt, file=sys.stderr)
        return 130
