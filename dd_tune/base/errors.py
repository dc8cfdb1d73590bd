"""User-facing exceptions (and the "did you mean" hint their messages share).

Every error a user can cause by bad input derives from :class:`DDTuneError`; the command-line entry
points turn it into one clear message and a non-zero exit. Library code never calls ``exit()``.
"""

from __future__ import annotations

from typing import Iterable


class DDTuneError(Exception):
    """Base class for errors caused by user input or environment (not by bugs)."""


class ConfigError(DDTuneError):
    """A study, search space or override is invalid."""


class DataError(DDTuneError):
    """A dataset is missing, corrupt or cannot be downloaded."""


class ResourceError(DDTuneError):
    """Requested hardware (e.g. a GPU) is not available."""


class StudyStateError(DDTuneError):
    """The study directory is in a state that forbids the requested action."""


class StudyFailed(DDTuneError):
    """No trial of a search produced a usable result."""


class StudyInterrupted(DDTuneError):
    """The search stopped before all its trials finished (Ctrl-C); ``--resume`` continues it."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a mistyped ``word`` (``-``/``_`` and
    case ignored for the comparison), or ``""`` when nothing is close."""
    import difflib

    def norm(s: str) -> str:
        return s.lower().replace("-", "_")

    options = {norm(c): c for c in choices}
    close = difflib.get_close_matches(norm(str(word)), list(options), n=1, cutoff=0.75)
    return f" (did you mean {options[close[0]]!r}?)" if close else ""
