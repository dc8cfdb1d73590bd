"""A study or a suite from a validated configuration to its results: the whole search built in memory,
every check before anything is written (:func:`dd_tune.tune.prepare.prepare_run`), the directory lock,
then the run. The commands parse, call one of these, print; they share this path."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

from dd_tune.config import StudyConfig, SuiteConfig
from dd_tune.records import StudyResult
from dd_tune.report.comparison import write_comparison
from dd_tune.search.progress import set_verbosity
from dd_tune.search.space import SearchSpace
from dd_tune.search.tuner import check_search
from dd_tune.tune import store
from dd_tune.tune.capacity import Capacity, cluster_capacity, release_request
from dd_tune.tune.full_data import run_full_data
from dd_tune.tune.prepare import RunPlace, RunRequest, prepare_run
from dd_tune.tune.resources import (
    Resources,
    check_full_budget_on_cpu,
    check_ipcs,
    resolve_resources,
    wait_for_nodes,
)
from dd_tune.tune.runner import StudyRunner
from dd_tune.tune.suite import check_members_idle, check_suite_dir, run_member

Started = Callable[[Path], None]  # told the run's directory once it exists (only then is there a run to resume)


@dataclass
class SuiteOutcome:
    suite_dir: Path
    results: list[StudyResult] = field(default_factory=list)
    comparison: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Checks:
    """The checks of a study (``kind`` "study", one study) or a suite (its members), for ``prepare_run``."""

    req: RunRequest
    kind: Literal["study", "suite"]
    name: str
    studies: list[StudyConfig]
    spaces: list[SearchSpace]

    def directory(self, storage: Path) -> None:
        where = store.locate(storage, self.name, self.kind)
        if self.kind == "study":
            store.check_study_dir(where, self.studies[0], self.req.force, self.req.resume)
        else:
            check_suite_dir(where, self.studies, self.req.force, self.req.resume)

    def search(self) -> None:
        for study, space in zip(self.studies, self.spaces):
            check_search(study, space)

    def data(self, data_root: Path) -> None:
        for study, space in zip(self.studies, self.spaces):
            check_ipcs(study, space, data_root)

    def resources(self, cap: Capacity) -> list[Resources]:
        check_full_budget_on_cpu(f"{self.kind} {self.name}", cap.can_have_gpus, self.req.profile_given,
                                 self.req.yes_cpu)
        return [resolve_resources(study, cap) for study in self.studies]

    def wait(self, resources: list[Resources], cap: Capacity) -> None:
        for study, res in zip(self.studies, resources):
            if wait_for_nodes(study, res, cap):
                cap = cluster_capacity()  # the next member sees the nodes that came up


@contextmanager
def _request_released(place: RunPlace) -> Iterator[None]:
    """The run's request to the autoscaler (GPU slots) lasts as long as the run: released at its end, so
    idle GPU nodes may scale down."""
    try:
        yield
    finally:
        release_request(place.autoscaler)


def run_study(study: StudyConfig, space: SearchSpace, req: RunRequest, started: Started) -> tuple[Path, StudyResult]:
    """Run ``study`` over ``space`` as ``req`` asks; (its directory, its results)."""
    set_verbosity(req.verbose)
    place = prepare_run(req, study.dataset, "study", study.name, _Checks(req, "study", study.name, [study], [space]))
    with place.lock, _request_released(place):  # one run per study directory, until this one ends
        study_dir = store.locate(place.storage, study.name, "study")
        store.create(study_dir, "study", replace=req.force)  # every check has passed
        started(study_dir)
        print(f"[dd_tune] study {study.name}: {'resuming' if req.resume else 'starting'} in {study_dir} "
              f"on {place.nodes} Ray node(s); follow the trials with: tensorboard --logdir {study_dir}", flush=True)
        result = StudyRunner(study, space, study_dir, place.data_root, place.resources[0]).run(resume=req.resume)
    return study_dir, result


def run_suite(suite: SuiteConfig, studies: Sequence[StudyConfig], spaces: Sequence[SearchSpace], req: RunRequest,
              started: Started) -> SuiteOutcome:
    """Run the studies of ``suite`` (as :func:`dd_tune.tune.suite.suite_studies` resolves them, with their
    search spaces, in order) and write the comparison."""
    set_verbosity(req.verbose)
    checks = _Checks(req, "suite", suite.name, list(studies), list(spaces))
    place = prepare_run(req, studies[0].dataset, "suite", suite.name, checks)
    with place.lock, _request_released(place):  # one run per suite directory, until this one ends
        outcome = SuiteOutcome(store.locate(place.storage, suite.name, "suite"))
        check_members_idle(outcome.suite_dir, studies)
        store.create(outcome.suite_dir, "suite", replace=req.force)  # every check has passed
        started(outcome.suite_dir)
        t0 = time.time()
        outcome.results = [run_member(study, space, outcome.suite_dir, place.data_root, resources, req.resume)
                           for study, space, resources in zip(studies, spaces, place.resources)]
        full_data = run_full_data(suite, studies[0], outcome.suite_dir, place.data_root)
        outcome.comparison = write_comparison(suite, outcome.results, outcome.suite_dir, time.time() - t0, full_data)
    return outcome
