"""Ctrl-C and SIGTERM stop a run the same way in every stage, and always with the same answer.

Two libraries change the driver's signal handlers behind its back: ``ray.init`` makes SIGTERM kill the
local Ray processes and ``sys.exit`` from inside the handler (an abort with a C++ stack, no message),
and Ray Tune's ``fit`` installs a SIGINT handler that only asks the experiment to stop and stays
installed after ``fit`` returns, so a Ctrl-C during the re-evaluation that follows was swallowed and
the run finished with exit 0. dd_tune therefore

* turns SIGTERM (what ``kill`` and job schedulers send) into SIGINT, so whichever stage is running treats
  it exactly as Ctrl-C: Tune stops the search gracefully (saving its state), any other stage raises
  ``KeyboardInterrupt``; the command prints the ``--resume`` hint and exits 2;
* re-installs that translation after Ray starts, and restores the SIGINT handler after every ``fit``.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


def _sigterm_as_ctrl_c(signum: int, frame: Any) -> None:
    if callable(signal.getsignal(signal.SIGINT)):  # Python's Ctrl-C, or Ray Tune's during fit
        signal.raise_signal(signal.SIGINT)
    else:  # SIGINT ignored (a background job of a non-interactive shell) or default: stop anyway
        raise KeyboardInterrupt


def sigterm_as_ctrl_c() -> None:
    """SIGTERM from now on acts as Ctrl-C (in the main thread only: Python allows handlers nowhere else)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)


@contextmanager
def handlers_restored() -> Iterator[None]:
    """Put back, on the way out, the SIGINT/SIGTERM/SIGUSR1 handlers that were installed on the way in
    (Ray Tune's ``fit`` leaves its own SIGINT handler behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = [s for s in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, s)]
    saved = {name: signal.getsignal(getattr(signal, name)) for name in names}
    try:
        yield
    finally:
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)
