"""Where studies, suites and search spaces are found (pure: paths only).

Search path, first match wins: the directories in ``DD_TUNE_STUDIES`` / ``DD_TUNE_SEARCH_SPACES``
(``os.pathsep``-separated), then the ones dd_tune ships: the checkout's ``studies/`` and
``search_spaces/`` in a development install, the copies packaged with dd_tune otherwise
(``pip install .`` ships them as ``dd_tune.studies`` / ``dd_tune.search_spaces``). A study or suite
can always be named by the path of its YAML file instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from dd_tune.base.errors import ConfigError, did_you_mean

_CHECKOUT = Path(__file__).resolve().parents[2]  # dd_tune/config/files.py -> the repository


def user_path(value: str | os.PathLike[str], what: str) -> Path:
    """A path the user named (``what``: "--storage", "DD_TUNE_DATA", ...): ``~`` expanded, made absolute,
    links resolved; an empty value, an unknown ``~user``, a symbolic-link loop or an unreadable path is one
    :class:`ConfigError` naming ``what`` (an empty ``--data-root`` must not silently mean the working
    directory)."""
    text = os.fspath(value)
    if not str(text).strip():
        raise ConfigError(f"{what} is empty; name a directory or file (or leave the option out)")
    try:
        return Path(text).expanduser().resolve()
    except RuntimeError as e:  # Python's words for "~nosuchuser" and for a symbolic-link loop
        raise ConfigError(f"{what} {str(text)[:200]!r}: {e}") from None
    except OSError as e:
        raise ConfigError(f"{what} {str(text)[:200]!r}: {e.strerror or e}") from None
    except ValueError as e:  # a NUL byte
        raise ConfigError(f"{what} {str(text)[:200]!r}: {e}") from None


def _bundled(name: str) -> list[Path]:
    source = _CHECKOUT / name
    if source.is_dir() and (_CHECKOUT / "dd_tune").is_dir():
        return [source]
    try:  # data-only (namespace) packages of an installed dd_tune
        spec = importlib.util.find_spec(f"dd_tune.{name}")
    except ModuleNotFoundError:
        return []
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def search_path(kind: str) -> list[Path]:
    """``kind``: "studies", "suites" or "search_spaces"."""
    env = {"studies": "DD_TUNE_STUDIES", "suites": "DD_TUNE_STUDIES", "search_spaces": "DD_TUNE_SEARCH_SPACES"}[kind]
    dirs = [Path(p).expanduser() for p in os.environ.get(env, "").split(os.pathsep) if p]
    dirs += _bundled("search_spaces" if kind == "search_spaces" else "studies")
    return [d / "suites" for d in dirs] if kind == "suites" else dirs


def list_names(kind: str) -> list[str]:
    return sorted({p.stem for d in search_path(kind) if d.is_dir() for p in d.glob("*.yaml")})


def find_file(kind: str, name_or_path: str) -> Path:
    """A name on the search path, or a path to a YAML file; else one error naming the choices."""
    path = user_path(name_or_path, what_of(kind)) if name_or_path.strip() else Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    for d in search_path(kind):
        candidate = d / f"{name_or_path}.yaml"
        if "/" not in name_or_path and candidate.is_file():
            return candidate.resolve()
    what = what_of(kind)
    names = list_names(kind)
    raise ConfigError(f"unknown {what} {name_or_path!r}{did_you_mean(name_or_path, names)}; choose from {names} (or a "
                      f"path to a .yaml file)")


def what_of(kind: str) -> str:
    return {"studies": "study", "suites": "suite", "search_spaces": "search space"}[kind]


def list_studies() -> list[str]:
    return list_names("studies")


def find_study(name_or_path: str) -> Path:
    return find_file("studies", name_or_path)
