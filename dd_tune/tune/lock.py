"""One run per study or suite directory: a lock that every command writing the directory takes first.

The lock is ``<storage>/.<name>.lock``, beside the directory rather than inside it, so ``--force`` can
replace the directory without dropping the lock. It is an advisory ``flock`` on that file: the kernel
releases it when the holder exits in any way (``kill -9`` included), so a lock left by a dead run is
taken over without a question. The file records the holder (host, PID, command, start time) for the
message a second run gets. Where the file system refuses ``flock`` (some network mounts), the record
alone decides: a holder on this host whose PID is gone is stale and taken over; a holder on another host
is trusted, and the message says which file to delete if that run is known to be gone.

A released lock deletes its file only while it is still the file it locked (a run that opened the file
just before it was deleted re-checks the inode after locking and retries), so the storage holds no lock
files when nothing runs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from dd_tune.base.errors import StudyStateError


def lock_path(storage: Path, name: str) -> Path:
    """Where the lock of ``<storage>/<name>`` lives (``name`` is a checked plain name)."""
    return storage / f".{name}.lock"


class RunLock:
    """The lock of one study or suite directory, held from the checks before a run to its end."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what  # "study dm_mnist", for messages
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (a no-op when held); refuse with the holder named when another run holds it.
        The storage directory must exist."""
        while self._fd is None:
            if self.path.is_symlink():  # never written through: it could point anywhere
                raise StudyStateError(f"{self.path} is a symbolic link; dd_tune does not follow links in the "
                                      f"storage: remove it (it is where {self.what}'s lock belongs)")
            try:  # O_NONBLOCK: a FIFO planted at the path must not hang the open
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
            except OSError as e:  # the run's first write into the storage: read-only, pseudo file system, full
                raise StudyStateError(f"cannot create the lock file {self.path} ({e.strerror or e}); the "
                                      f"storage must be a writable directory on a real file system") from None
            try:
                _check_own_file(fd, self.path, self.what)
                if not self._lock(fd):
                    raise StudyStateError(self._busy_message(_read_holder(fd)))
                if not _same_file(fd, self.path):  # deleted by a releasing run between open and lock: retry
                    os.close(fd)
                    continue
                _write_holder(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd

    def release(self) -> None:
        """Give the lock back and delete its file (only while it is the file this run locked)."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink()
        except OSError:
            pass  # a storage that went read-only: the kernel still drops the lock below
        finally:
            os.close(self._fd)
            self._fd = None

    def _lock(self, fd: int) -> bool:
        """True when this run now holds the lock."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        holder = _read_holder(fd)  # no flock on this file system: the record decides
        return not holder or _stale(holder)

    def _busy_message(self, holder: dict[str, Any]) -> str:
        who = (f"PID {holder.get('pid')} on {holder.get('host')}, running {holder.get('command')!r} since "
               f"{holder.get('started')}") if holder else "another run (no record of which)"
        return (f"{self.what} is in use by {who}; wait for it to finish or stop it, then run again (a run "
                f"that was killed releases its lock by itself; if that run is gone and this persists, delete "
                f"{self.path})")

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _check_own_file(fd: int, path: Path, what: str) -> None:
    """The lock file is a regular file with no other name: a FIFO, a device or a hard link to a file
    elsewhere (whose content the holder record would replace) is refused, before anything is written."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise StudyStateError(f"{path} is not a regular file; remove it (it is where {what}'s lock belongs)")
    if st.st_nlink != 1:
        raise StudyStateError(f"{path} has {st.st_nlink} names (a hard link to another file); dd_tune never "
                              f"writes through it: remove it (it is where {what}'s lock belongs)")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw.decode("utf-8")) if raw else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_holder(fd: int) -> None:
    record = {"host": socket.gethostname(), "pid": os.getpid(), "command": " ".join(sys.argv)[:300],
              "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    data = json.dumps(record).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _stale(holder: dict[str, Any]) -> bool:
    """A holder on this host whose process is gone (another host's holder cannot be checked)."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder.get("pid", 0))
    except (ValueError, TypeError):
        return True  # not a record a run wrote
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False
