"""A full disk while a study's report is written: one error line, nothing that looks finished, and the
report written once there is room again (what --resume then does). Real ENOSPC on a small tmpfs where
the test can mount one (CI runs as root), else a write failure injected at the file layer."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from factories import acc, ipc_result, study_result

from dd_tune.base.errors import StudyStateError
from dd_tune.report import study_report
from dd_tune.report.stored import REPORT_FILE, finished


@pytest.fixture()
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    yield mount if made.returncode == 0 else None
    if made.returncode == 0:
        subprocess.run(["umount", str(mount)], check=True)


def _result(study_dir: Path):
    row = ipc_result(reeval={"best": {"convnet": acc([90.0, 91.0])}, "default": {"convnet": acc([85.0, 86.0])}})
    return study_result({"1": row}, study_dir=str(study_dir))


def test_a_full_disk_leaves_nothing_finished_and_the_report_is_written_once_there_is_room(small_disk, tmp_path,
                                                                                           monkeypatch):
    study_dir = (small_disk or tmp_path) / "dm_mnist"
    study_dir.mkdir()
    if small_disk is not None:
        filler = small_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk: the report no longer fits
        try:
            while True:
                os.write(fd, bytes(1024))
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
    else:
        def full(path: Path, text: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(study_report, "atomic_write_text", full)
    with pytest.raises(StudyStateError) as refused:
        study_report.write_report(_result(study_dir), study_dir)
    line = " ".join(str(refused.value).split())
    assert "No space left on device" in line and "run the same command with --resume to write it" in line
    assert not finished(study_dir) and not (study_dir / REPORT_FILE).exists()
    assert not [p.name for p in study_dir.iterdir() if p.name.endswith(".tmp")]  # no half-written file left
    if small_disk is not None:
        filler.unlink()
    else:
        monkeypatch.undo()
    study_report.write_report(_result(study_dir), study_dir)
    assert finished(study_dir) and (study_dir / "report.md").exists() and (study_dir / "report.html").exists()
