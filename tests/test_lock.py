"""The directory lock: one run per study or suite directory, a dead holder taken over, no file left behind."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys

import pytest

from dd_tune.base.errors import StudyStateError
from dd_tune.tune import lock as lock_module
from dd_tune.tune.lock import RunLock, lock_path

HOLD = ("import sys, time; from pathlib import Path; from dd_tune.tune.lock import RunLock; "
        "RunLock(Path(sys.argv[1]), 'study x').acquire(); print('held', flush=True); time.sleep(120)")


def test_lock_lives_beside_the_directory(tmp_path):
    assert lock_path(tmp_path, "dm_mnist") == tmp_path / ".dm_mnist.lock"


def test_second_holder_is_refused_with_the_first_named_and_release_removes_the_file(tmp_path):
    path = lock_path(tmp_path, "x")
    first = RunLock(path, "study x")
    first.acquire()
    record = json.loads(path.read_text())
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    with pytest.raises(StudyStateError, match=rf"study x is in use by PID {os.getpid()} on "):
        RunLock(path, "study x").acquire()
    first.acquire()  # held: a no-op
    first.release()
    assert not path.exists()
    with RunLock(path, "study x") as again:
        again.acquire()
        assert again.held
    assert not path.exists()


def test_a_killed_holder_releases_its_lock(tmp_path):
    path = lock_path(tmp_path, "x")
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StudyStateError, match=f"in use by PID {child.pid}"):
            RunLock(path, "study x").acquire()
    finally:
        child.kill()
        child.wait()
    assert path.exists()  # kill -9 leaves the file, not the lock
    taken = RunLock(path, "study x")
    taken.acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    taken.release()


def test_a_file_deleted_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """A run that opened the file just before the holder deleted it must not hold a lock on a file
    nobody else can see: it re-opens."""
    path = lock_path(tmp_path, "x")
    calls = []
    real_same = lock_module._same_file

    def same_file(fd, p):
        calls.append(1)
        if len(calls) == 1:  # the first open's file is unlinked and replaced meanwhile
            p.unlink()
            p.write_text("")
            return real_same(fd, p)
        return real_same(fd, p)

    monkeypatch.setattr(lock_module, "_same_file", same_file)
    lock = RunLock(path, "study x")
    lock.acquire()
    assert len(calls) == 2 and lock.held and real_same(lock._fd, path)
    lock.release()


@pytest.mark.parametrize("host, pid, refused", [
    ("self", "dead", False),  # this host, process gone: stale, taken over
    ("self", "alive", True),  # this host, process running: refused
    ("elsewhere", "alive", True),  # another host cannot be checked: refused, the message names the file
])
def test_without_flock_the_record_decides(tmp_path, monkeypatch, host, pid, refused):
    path = lock_path(tmp_path, "x")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"host": socket.gethostname() if host == "self" else "other-node", "command": "dd-tune study x",
              "pid": int(dead.stdout) if pid == "dead" else os.getppid(), "started": "then"}
    path.write_text(json.dumps(record))

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(lock_module.fcntl, "flock", no_flock)
    lock = RunLock(path, "study x")
    if refused:
        with pytest.raises(StudyStateError, match=f"in use by PID {record['pid']} on {record['host']}.*delete {path}"):
            lock.acquire()
        assert json.loads(path.read_text()) == record  # the holder's record is left alone
    else:
        lock.acquire()
        assert json.loads(path.read_text())["pid"] == os.getpid()
        lock.release()


def test_a_record_with_a_bad_pid_is_stale(tmp_path, monkeypatch):
    path = lock_path(tmp_path, "x")
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": -1}))
    monkeypatch.setattr(lock_module.fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(errno.ENOLCK, "x")))
    lock = RunLock(path, "study x")
    lock.acquire()
    assert lock.held
    lock.release()


def test_a_lock_path_that_is_a_link_is_never_written_through(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    path = lock_path(tmp_path, "x")
    path.symlink_to(target)
    with pytest.raises(StudyStateError, match="is a symbolic link"):
        RunLock(path, "study x").acquire()
    assert target.read_text() == "keep me" and path.is_symlink()
