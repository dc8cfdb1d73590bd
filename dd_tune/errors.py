"""User-facing exceptions.

Every error a user can cause by bad input derives from :class:`DDTuneError`; the command-line entry
points turn it into one clear message and a non-zero exit. Library code never calls ``exit()``.
"""


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
