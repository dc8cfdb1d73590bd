"""Fixed malloc thresholds for processes that run tensor work (trials, Ray tasks, the CLI).

glibc's malloc adapts two thresholds while a process runs: blocks above the *mmap threshold* are
mapped and unmapped on every allocation, and free memory above the *trim threshold* is handed back to
the OS. A distillation step allocates and frees the same few hundred MB again and again, so until the
thresholds have grown past its block sizes (several steps, and again after any larger allocation such
as a test pass) each step faults all that memory back in: a DataDAM step's real pass took 940 ms
instead of 450 ms for its first steps on a 2-core CPU. Fixing the thresholds gives every step the
steady-state speed from the first one; the price is that a process keeps up to ``trim`` bytes of
freed memory for reuse. Nothing happens where glibc's ``mallopt`` is not available (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest dynamic value on 64-bit: blocks above stay mapped
TRIM_THRESHOLD = 1 << 30

_applied: bool | None = None


def steady_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds in this process (once); True where it took effect."""
    global _applied
    if _applied is None:
        _applied = _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return _applied


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(param, value) == 1)
