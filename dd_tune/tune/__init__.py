"""The orchestration room: what the commands call. A study or suite runs with :func:`run_study` /
:func:`run_suite` from a :class:`RunRequest` (every option of the command line): the checks before a run
and the Ray instance (prepare, cluster, lock, store, resources), one search per IPC (dd_tune.search) and
what follows it (the expert stage, the confirmation of finalists, the evaluation-lr choice, the test pass,
extra sets), and the suite."""

from dd_tune.search.space import load_search_space
from dd_tune.tune.prepare import RunRequest
from dd_tune.tune.run import SuiteOutcome, run_study, run_suite
from dd_tune.tune.suite import suite_studies

__all__ = ["RunRequest", "SuiteOutcome", "load_search_space", "run_study", "run_suite", "suite_studies"]
