"""The Ray room: what the commands call. A study or suite runs with :func:`run_study` / :func:`run_suite`
from a :class:`RunRequest` (every option of the command line); the rest of the room is the search (space,
Optuna, the trainable, faults) and the orchestration (runner, stages, re-evaluation, suite)."""

from dd_tune.tune.prepare import RunRequest
from dd_tune.tune.run import SuiteOutcome, run_study, run_suite
from dd_tune.tune.search_space import load_search_space
from dd_tune.tune.suite import suite_studies

__all__ = ["RunRequest", "SuiteOutcome", "load_search_space", "run_study", "run_suite", "suite_studies"]
