"""Silence the notice a Ray worker prints when it is stopped with SIGTERM in the middle of a callback.

Ray's SIGTERM handler raises SystemExit. When the signal lands while Python runs a weakref or
``__del__`` callback, Python cannot raise it there: it prints "Exception ignored in ..." to stderr,
and Ray forwards that line to the study's console. The worker is exiting as it was asked to, so the
notice says nothing; every other unraisable exception still reaches the hook that was there before.
"""

from __future__ import annotations

import sys
from typing import Any

_MARK = "dd_tune_quiet_exit"


def quiet_exit_on_sigterm() -> None:
    """Install the filter in this process (once: a reused worker does not chain hooks)."""
    previous = sys.unraisablehook
    if getattr(previous, _MARK, False):
        return

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, SystemExit):
            previous(unraisable)

    setattr(hook, _MARK, True)
    sys.unraisablehook = hook
