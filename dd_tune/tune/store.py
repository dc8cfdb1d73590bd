"""What dd_tune may create, use and replace under ``--storage``.

A study or suite directory is ``<storage>/<name>``: the name is a plain name (no path separators, no
``..``), the directory resolves inside the storage and is never a symbolic link. dd_tune writes a marker
file into every directory it creates; ``--force`` replaces and ``--resume`` continues only a directory
that carries the marker, so a typo in a name, a ``--set name=...`` or a suite file can never delete or
write into a directory dd_tune did not make (the refusal names what the directory holds).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from dd_tune.base.errors import ConfigError, StudyStateError
from dd_tune.config import EXPERTS_DIR, REEVAL_DIR, StudyConfig, build, plain_name_problem, to_dict
from dd_tune.report.stored import finished
from dd_tune.tune.resumable import check_resumable

Kind = Literal["study", "suite"]
MARKERS: dict[str, str] = {"study": ".dd_tune_study", "suite": ".dd_tune_suite"}


def check_name(name: str, kind: Kind) -> None:
    """A study or suite name becomes a directory name: only plain names, none of the storage's shared
    folders."""
    problem = plain_name_problem(name)
    if problem is not None:
        raise ConfigError(f"{kind} name {problem}")


def locate(storage: Path, name: str, kind: Kind) -> Path:
    """``<storage>/<name>``, refused unless it is (or will be) a real directory inside ``storage``."""
    check_name(name, kind)
    path = storage / name
    if path.is_symlink():
        raise StudyStateError(f"{path} is a symbolic link; dd_tune does not follow links out of the storage: "
                              f"remove the link or choose another --storage or {kind} name")
    if path.exists() and not path.is_dir():
        raise StudyStateError(f"{path} is a file, not a {kind} directory: choose another --storage or {kind} name")
    if path.resolve().parent != storage.resolve():
        raise StudyStateError(f"{kind} directory {path} would lie outside --storage {storage}")
    return path


def owned(path: Path, kind: Kind) -> bool:
    return (path / MARKERS[kind]).is_file()


def _listing(path: Path, limit: int = 5) -> str:
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown or "nothing"


def check_owned(path: Path, kind: Kind, force: bool, resume: bool) -> None:
    """Refuse to replace (``--force``), continue (``--resume``) or reuse a directory dd_tune did not create."""
    if not path.exists():
        if resume:
            raise StudyStateError(f"--resume: there is no {kind} at {path}; run it without --resume")
        return
    if not owned(path, kind) and (resume or any(path.iterdir())):  # an empty directory holds nothing
        action = "replace" if force else "resume" if resume else "write into"
        raise StudyStateError(f"refusing to {action} {path}: dd_tune did not create it (no {MARKERS[kind]} marker); "
                              f"it holds {_listing(path)}. Choose another --storage or {kind} name")


def create(path: Path, kind: Kind, replace: bool = False) -> None:
    """Make ``path`` (with its marker); with ``replace``, first delete it — only if dd_tune made it."""
    if path.is_symlink() or (path.exists() and not owned(path, kind) and any(path.iterdir())):
        # checked before Ray started (check_owned); checked again right before anything is changed
        raise StudyStateError(f"refusing to use {path}: dd_tune did not create it (no {MARKERS[kind]} marker)")
    if replace and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKERS[kind]
    if not marker.exists():
        marker.write_text(f"created by dd_tune: this {kind} directory may be replaced by --force\n")


def check_caches(parent: Path) -> None:
    """The shared caches a run in ``parent`` writes (expert trajectories, evaluations) are directories it
    can write to, when they exist: found out now, not when the first result is stored after the search."""
    for name in (EXPERTS_DIR, REEVAL_DIR):
        path = parent / name
        if path.exists() and not path.is_dir():
            raise StudyStateError(f"{path} is a file, but dd_tune keeps its {name} cache there; move the file away "
                                  f"or choose another --storage")
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            raise StudyStateError(f"cannot write to the {name} cache {path} (read-only or no permission); make it "
                                  f"writable or choose another --storage")


def check_study_dir(study_dir: Path, study: StudyConfig, force: bool, resume: bool) -> None:
    """No silent overwrite: a finished or different study is refused; ``--force`` replaces only a study
    dd_tune created (its marker). The caches beside it must be writable."""
    check_caches(study_dir.parent)
    check_owned(study_dir, "study", force, resume)
    if study_dir.is_dir() and not os.access(study_dir, os.W_OK | os.X_OK):
        raise StudyStateError(f"cannot write to {study_dir} (read-only or no permission); make it writable or "
                              f"choose another --storage")
    if force or not study_dir.exists() or not owned(study_dir, "study"):
        return
    check_same_profile(study_dir, study)
    if finished(study_dir):  # its report.json reads back (written last): a half-written one is not finished
        raise StudyStateError(f"{study_dir} already holds a finished study; pass --force to run it again "
                              f"or choose another --storage")
    if not resume:
        raise StudyStateError(f"{study_dir} holds an unfinished study; pass --resume to continue it, --force "
                              f"to replace it, or choose another --storage")
    check_resumable(study_dir)  # its records, Optuna file, Tune state and owner, before Ray starts
    differs = stored_config_diff(study_dir, study)
    if differs:
        raise StudyStateError(f"{study_dir} holds a different study (changed: {', '.join(differs)}); "
                              f"--resume continues only the same configuration; pass --force to replace it "
                              f"or choose another --storage")
    searching = [d.name for d in sorted(study_dir.glob("ipc*"))
                 if d.is_dir() and not (study_dir / f"{d.name}.json").exists()]
    if searching and not (study_dir / "optuna.db").is_file():
        raise StudyStateError(f"{study_dir}: the search of {', '.join(searching)} was under way but its Optuna "
                              f"study (optuna.db) is gone, so the search cannot continue where it stopped; pass "
                              f"--force to start the study again")


def check_same_profile(study_dir: Path, study: StudyConfig) -> None:
    """Profiles of one study never share a folder: a ``quick`` run where a ``smoke`` one lies is refused
    with the way out (its own --storage), whether the other is finished or not."""
    try:
        stored = json.loads((study_dir / "study.json").read_text()).get("profile")
    except (OSError, ValueError, AttributeError):
        return  # no readable record: the other checks say what the folder holds
    if isinstance(stored, str) and stored != study.profile:
        raise StudyStateError(
            f"{study_dir} holds this study's {stored!r} profile; this run is the {study.profile!r} profile. Give it "
            f"a folder of its own (e.g. --storage {study_dir.parent / study.profile}) or pass --force to "
            f"replace the {stored!r} results")


def stored_config_diff(study_dir: Path, study: StudyConfig) -> list[str]:
    """Top-level keys in which the study stored in ``study_dir`` differs from ``study``.

    ``study.json`` is read as data and checked against the study schema before anything is restored
    (the Ray Tune state a resume unpickles must come from a trusted storage: README, Safety). Keys a
    newer dd_tune added take their defaults in the stored record, so a study interrupted under an older
    version resumes unless the current configuration sets such a key to something else."""
    stored_file = study_dir / "study.json"
    if not stored_file.exists():  # interrupted before the study started: nothing to differ from
        return []
    try:
        stored = _as_stored(build(StudyConfig, json.loads(stored_file.read_text()), "", str(stored_file)))
    except OSError as e:
        raise StudyStateError(f"{stored_file} cannot be read ({e.strerror or e}); --resume cannot continue the "
                              f"study: pass --force to replace it") from None
    except (ValueError, ConfigError) as e:
        raise StudyStateError(f"{stored_file} is not a dd_tune study record ({str(e).splitlines()[0][:200]}); "
                              f"--resume cannot continue it: pass --force to replace the study") from None
    current = _as_stored(study)
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def _as_stored(study: StudyConfig) -> dict[str, Any]:
    """``study`` as plain JSON data, as study.json holds it (tuples become lists)."""
    return dict(json.loads(json.dumps(to_dict(study))))
