"""What ``--resume`` reads back, checked before Ray starts: every finished IPC's record, the Optuna file,
Ray Tune's experiment state, and that the folder is the user's own. A damaged file is one error naming it
and the fix, never a traceback after Ray started and never a resume that loops on "continue with
--resume"; a folder someone else owns or can write is refused, because resuming unpickles Ray Tune's
state from it (running code from whoever wrote it)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from dd_tune.base.errors import StudyStateError
from dd_tune.report.stored import load_ipc_result

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_resumable(study_dir: Path) -> None:
    """Refuse a ``--resume`` whose stored state cannot be read back (each in one line with the fix)."""
    check_trusted(study_dir)
    for record in sorted(study_dir.glob("ipc*.json")):
        load_ipc_result(record)
    check_optuna_db(study_dir / "optuna.db")
    for state in sorted(study_dir.glob("ipc*/experiment_state-*.json")):
        check_tune_state(state)


def check_trusted(study_dir: Path) -> None:
    """The study folder and the files Ray Tune unpickles on resume belong to this user and are not
    writable by every user of the machine."""
    for path in (study_dir, *sorted(study_dir.glob("ipc*/*.pkl"))):
        st = path.lstat()
        if st.st_uid != os.getuid():
            raise StudyStateError(f"--resume: {path} belongs to another user (uid {st.st_uid}); resuming unpickles "
                                  f"Ray Tune's state from it, which runs code its writer chose: copy the results you "
                                  f"trust, or run the study again with --force in a folder of your own")
        if st.st_mode & stat.S_IWOTH:  # world-writable (a group-writable folder of a shared group is kept)
            raise StudyStateError(f"--resume: others can write {path} (mode {stat.filemode(st.st_mode)}); resuming "
                                  f"unpickles Ray Tune's state from it: make it writable by you alone (chmod o-w) if "
                                  f"you trust its contents, or run the study again with --force")


def check_optuna_db(db: Path) -> None:
    """The Optuna file is an SQLite database that holds Optuna's tables (when it exists)."""
    if not db.exists():
        return
    fix = (f"--resume cannot continue the search from it; pass --force to run the study again (or restore "
           f"{db.name} from a copy)")
    if not db.is_file():
        raise StudyStateError(f"{db} is not a regular file; {fix}")
    with db.open("rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise StudyStateError(f"{db} is not an SQLite database; {fix}")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise StudyStateError(f"{db} is a damaged SQLite database ({e}); {fix}") from None
    if tables and "studies" not in tables:
        raise StudyStateError(f"{db} holds no Optuna study tables; {fix}")


def check_tune_state(state: Path) -> None:
    """Ray Tune's experiment state of an IPC's search is JSON with its trial list; a damaged one would
    restore a search with fewer trials and stop again, forever."""
    ipc = state.parent.name
    fix = (f"delete {state.parent} to run the {ipc} search again with --resume (finished IPCs are kept), or "
           f"pass --force to run the whole study again")
    try:
        data = json.loads(state.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise StudyStateError(f"{state} is damaged ({type(e).__name__}); {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("trial_data"), list):
        raise StudyStateError(f"{state} is not Ray Tune's experiment state (no trial list); {fix}")
