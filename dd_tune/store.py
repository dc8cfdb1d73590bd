"""What dd_tune may create, use and replace under ``--storage``.

A study or suite directory is ``<storage>/<name>``: the name is a plain name (no path separators, no
``..``), the directory resolves inside the storage and is never a symbolic link. dd_tune writes a marker
file into every directory it creates; ``--force`` replaces and ``--resume`` continues only a directory
that carries the marker, so a typo in a name, a ``--set name=...`` or a suite file can never delete or
write into a directory dd_tune did not make (the refusal names what the directory holds).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Literal

from dd_tune.errors import ConfigError, StudyStateError

Kind = Literal["study", "suite"]
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "1-100 characters from letters, digits, '.', '_' and '-', starting with a letter or digit"
MARKERS: dict[str, str] = {"study": ".dd_tune_study", "suite": ".dd_tune_suite"}


def check_name(name: str, kind: Kind) -> None:
    """A study or suite name becomes a directory name: only plain names."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"{kind} name {name!r} is not a plain name: use {NAME_RULE}")


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
