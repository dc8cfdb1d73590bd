"""Reading back what a study stored (``report.json``, ``ipc<N>.json``): every file checked before it is
trusted, and every problem one error naming the file and the fix — never a traceback, never a hang on a
FIFO, never gigabytes read from a file planted in a study folder.

``report.json`` is written last (:func:`dd_tune.report.study_report.write_report`): a study is finished
exactly when its ``report.json`` reads back as a study report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import stat
from pathlib import Path
from typing import Any, Callable, TypeVar

from dd_tune.base.errors import StudyStateError
from dd_tune.records import IpcResult, StudyResult

REPORT_FILE = "report.json"
MAX_RECORD_BYTES = 256 * 2**20  # a large study's report is a few MiB
T = TypeVar("T")


def read_record(path: Path, fix: str, what: str = "record") -> dict[str, Any]:
    """The JSON object in ``path``; a :class:`StudyStateError` naming the file and ``fix`` when it is not a
    regular file, too large, not JSON, nested too deep or not an object."""
    try:
        st = path.stat()
    except OSError as e:
        raise StudyStateError(f"{path} cannot be read ({e.strerror or e}); {fix}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StudyStateError(f"{path} is not a regular file; {fix}")
    if st.st_size > MAX_RECORD_BYTES:
        raise StudyStateError(f"{path} holds {st.st_size / 2**20:.0f} MiB, more than any dd_tune record; {fix}")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else f"{type(e).__name__}: {str(e)[:80]}"
        raise StudyStateError(f"{path} is not a dd_tune {what} ({why}); {fix}") from None
    if not isinstance(data, dict):
        raise StudyStateError(f"{path} is not a dd_tune {what} (a JSON {type(data).__name__}, not an object); {fix}")
    return data


def _typed(path: Path, fix: str, what: str, build: Callable[[dict[str, Any]], T]) -> T:
    data = read_record(path, fix, what)
    try:
        return build(data)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise StudyStateError(f"{path} is not a dd_tune {what} ({type(e).__name__}: {str(e)[:100]}); {fix}") from None


def load_study_report(path: Path, fix: str) -> StudyResult:
    """A ``report.json``, typed and checked (every accuracy a finite number: the tables compute with them)."""
    return _typed(path, fix, "study report", lambda data: _finite(StudyResult.from_dict(data)))


def _finite(result: StudyResult) -> StudyResult:
    for ipc, row in result.by_ipc.items():
        for name, by_arch in row.reeval.items():
            if not all(math.isfinite(float(v)) for entry in by_arch.values() for v in entry.runs):
                raise ValueError(f"IPC {ipc}, row {ascii(name)}: an accuracy that is not a finite number")
    return result


def load_ipc_result(path: Path) -> IpcResult:
    """A finished IPC read back on ``--resume``."""
    return _typed(path, "it records a finished IPC: delete it to run that IPC again with --resume, or pass "
                        "--force to run the whole study again", "IPC record", IpcResult.from_dict)


def finished(study_dir: Path) -> bool:
    """The study in ``study_dir`` finished: its ``report.json`` (written last, atomically) is a regular
    file holding a JSON object; a half-written one (a full disk under an older version) is not finished."""
    try:
        read_record(study_dir / REPORT_FILE, "")
    except StudyStateError:
        return False
    return True


def moved_here(result: IpcResult, study_dir: Path) -> IpcResult:
    """A finished IPC's record read back in ``study_dir``: file paths it stored under the folder where the
    study first ran (a copied or moved study) point into ``study_dir`` instead, so a re-rendered report
    shows its own pictures, not the old folder's."""
    def here(path: str) -> str:
        if not path:
            return path
        parts = Path(path).parts
        if study_dir.name not in parts:
            return path
        at = len(parts) - 1 - parts[::-1].index(study_dir.name)
        moved = study_dir.joinpath(*parts[at + 1:])
        return str(moved) if moved.exists() and not Path(path).is_relative_to(study_dir) else path

    return dataclasses.replace(
        result, best_synset=here(result.best_synset), best_png=here(result.best_png),
        progress={k: here(v) for k, v in result.progress.items()},
        plots=result.plots.moved(lambda path: None if path is None else here(path)))
