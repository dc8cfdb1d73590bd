"""A comparison suite on Ray: its studies with the shared settings, its directory rules, one study at a
time (a resumed suite reads back the studies it had finished)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from dd_tune.base.errors import ConfigError, StudyStateError
from dd_tune.config import StudyConfig, SuiteConfig
from dd_tune.methods import init_of
from dd_tune.methods.configs import load_study
from dd_tune.records import StudyResult
from dd_tune.report.stored import REPORT_FILE, finished, load_study_report
from dd_tune.search.space import SearchSpace
from dd_tune.tune import store
from dd_tune.tune.lock import RunLock, lock_path
from dd_tune.tune.resources import Resources
from dd_tune.tune.runner import StudyRunner

SHARED_KEYS = ("dataset", "final_eval", "proxy_eval", "seed", "ipc")


def suite_studies(suite: SuiteConfig) -> list[StudyConfig]:
    """Every study of the suite with the shared keys applied, validated, and checked to agree."""
    studies = []
    for name in suite.studies:
        overrides = suite.overrides(name)
        study = load_study(name, suite.member_profile, overrides)
        if suite.init_variants and init_of(study.distill) is not None:
            study = load_study(name, suite.member_profile, [*overrides, ("init_variants", list(suite.init_variants))])
        studies.append(study)
    seen: dict[str, str] = {}
    for listed, study in zip(suite.studies, studies):  # each study its own directory of the suite
        if study.name in seen:
            raise ConfigError(f"suite {suite.name}: {seen[study.name]!r} and {listed!r} both resolve to the study "
                              f"name {study.name!r} (one directory, one Optuna study); give one of them another name")
        seen[study.name] = listed
    first = studies[0]
    for study in studies[1:]:
        for key in SHARED_KEYS:
            if getattr(study, key) != getattr(first, key):
                raise ConfigError(f"suite {suite.name}: studies {first.name} and {study.name} differ in "
                                  f"{key!r}; set it under 'shared' (or 'ipc') so every method gets the same")
    return studies


def check_suite_dir(suite_dir: Path, studies: Sequence[StudyConfig], force: bool, resume: bool) -> None:
    """No silent overwrite; with ``resume`` every study already in the suite directory must be the one
    asked for (checked before anything runs). The caches inside it must be writable."""
    store.check_caches(suite_dir)
    store.check_owned(suite_dir, "suite", force, resume)
    if suite_dir.exists() and store.owned(suite_dir, "suite") and not (force or resume):
        raise StudyStateError(f"{suite_dir} already holds a suite; pass --resume to continue it, --force to "
                              f"replace it, or choose another --storage")
    if not resume:
        return
    for study in studies:
        store.check_owned(store.locate(suite_dir, study.name, "study"), "study", False, False)
        differs = store.stored_config_diff(suite_dir / study.name, study) if (suite_dir / study.name).exists() else []
        if differs:
            raise StudyStateError(f"{suite_dir / study.name} holds a different study (changed: "
                                  f"{', '.join(differs)}); --resume continues only the same suite; pass "
                                  f"--force to replace it or choose another --storage")


def check_members_idle(suite_dir: Path, studies: Sequence[StudyConfig]) -> None:
    """No study of the suite is running on its own (``dd_tune.study --storage <suite dir>``): each
    member's lock is free. Checked under the suite's lock, before the suite directory is replaced or
    continued (a member's lock lives in the suite directory, which ``--force`` deletes)."""
    if not suite_dir.is_dir():
        return
    for study in studies:
        with RunLock(lock_path(suite_dir, study.name), f"study {study.name} of the suite") as lock:
            lock.acquire()


def run_member(study: StudyConfig, space: SearchSpace, suite_dir: Path, data_root: Path, resources: Resources,
               resume: bool) -> StudyResult:
    """One study of the suite (read back when a resumed suite had already finished it)."""
    study_dir = suite_dir / study.name
    if resume and finished(study_dir):
        print(f"[dd_tune] suite: {study.name} finished before the interruption, read back", flush=True)
        return load_study_report(study_dir / REPORT_FILE, "")
    resuming = resume and study_dir.exists()
    # the member's own lock too: a `dd_tune.study --storage <suite dir>` on it meanwhile is refused
    with RunLock(lock_path(suite_dir, study.name), f"study {study.name}") as lock:
        lock.acquire()
        store.create(study_dir, "study")
        print(f"[dd_tune] suite: {'resuming' if resuming else 'running'} {study.name}", flush=True)
        runner = StudyRunner(study, space, study_dir, data_root, resources)  # resolved (and waited for) before
        return runner.run(resume=resuming)
