"""The files a command writes: checked before any work, never an input, never a file nobody named.

"Is this an input?" is decided by file identity (device and inode), not by path: a hard link, a symlink
or another spelling of the set file or of a dataset file is the same file. A command writes the file the
user named (replacing it when it exists) and files derived from it (a preview beside a set, the sets of
``--also-at``) only where nothing exists yet, unless ``--force``; every check runs before the work starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from dd_tune.base.errors import ConfigError
from dd_tune.config import user_path

MAX_INPUT_FILES = 100_000  # a data root larger than this is not walked further (dataset folders hold few files)


def _identities(inputs: Iterable[str | Path]) -> set[tuple[int, int]]:
    """(device, inode) of every input file; a folder (the data root) counts with every file under it."""
    out: set[tuple[int, int]] = set()
    for source in inputs:
        path = Path(source)
        if path.is_dir():
            for n, (folder, _, files) in enumerate(os.walk(path)):
                for name in files:
                    _add(out, Path(folder) / name)
                if n > MAX_INPUT_FILES:
                    break
        else:
            _add(out, path)
    return out


def _add(out: set[tuple[int, int]], path: Path) -> None:
    try:
        st = path.stat()
    except OSError:
        return
    out.add((st.st_dev, st.st_ino))


def check_writable_file(path: str | None, option: str, inputs: Sequence[str | Path] = ()) -> None:
    """An output file the user named (``--out``, ``--json``) can be written, checked before hours of
    work, and is none of the command's ``inputs`` (files, or folders whose files all count)."""
    if path is None:
        return
    p = user_path(path, option)
    if p.exists() and not p.is_dir() and (p.stat().st_dev, p.stat().st_ino) in _identities(inputs):
        raise ConfigError(f"{option} {path} is a file this command reads (the same file, by its inode); name "
                          f"another file")
    _check_place(p, option, path)


def check_derived_files(paths: Sequence[Path], option: str, force: bool, inputs: Sequence[str | Path] = ()) -> None:
    """Files the command derives from a named output (a preview, ``--also-at`` sets): none may be a
    folder or an input, and none may exist already unless ``force`` (they were not named)."""
    reads = _identities(inputs)
    for p in paths:
        if p.is_dir():
            raise ConfigError(f"{option}: {p} would be written beside it but is a directory; choose another "
                              f"{option}")
        if p.exists() and (p.stat().st_dev, p.stat().st_ino) in reads:
            raise ConfigError(f"{option}: {p} would be written beside it but is a file this command reads")
        if p.exists() and not force:
            raise ConfigError(f"{option}: {p} exists and would be replaced (it is written beside the file you "
                              f"named); pass --force to replace it, or choose another {option}")
        _check_place(p, option, str(p))


def _check_place(p: Path, option: str, shown: str) -> None:
    if p.is_dir():
        raise ConfigError(f"{option} {shown} is a directory; name a file")
    if not p.parent.is_dir():
        raise ConfigError(f"{option} {shown}: the directory {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"{option} {shown}: cannot write there (read-only file system or no permission)")
