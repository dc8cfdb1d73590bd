"""One IPC's search on Ray Tune: Optuna (seeded TPE, sqlite) + ASHA, and its resume after a kill.

Kept apart from :mod:`dd_tune.tune.runner` (which turns the search's results into re-evaluated sets and a
report) because starting, restoring and checking a Tune experiment is its own concern.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dd_tune.base.errors import ConfigError, StudyInterrupted
from dd_tune.base.keys import IMAGES, ITERATION, METRIC
from dd_tune.config import StudyConfig
from dd_tune.search import optuna_search, ordered, trial_names
from dd_tune.search.board import trial_board
from dd_tune.search.interrupts import handlers_restored
from dd_tune.search.progress import progress_callback, tune_console, tune_verbosity
from dd_tune.search.setup import TrialSetup
from dd_tune.search.space import SearchSpace, default_point, max_iterations, to_optuna
from dd_tune.search.trainable import dd_trainable
from dd_tune.search.trial_names import dirname_creator


def optuna_name(study: StudyConfig, ipc: int) -> str:
    """The Optuna study of one IPC inside the study's sqlite file."""
    return f"{study.name}-ipc{ipc}"


def optuna_numbers(db: Path, name: str) -> dict[str, int]:
    """``trial_<ray id>`` folder -> Optuna trial number (the ``ray_trial_id`` each trial records), so the
    report, the plots and the Optuna database name a trial alike. Empty when the database is missing."""
    import optuna

    if not db.exists():
        return {}
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    except KeyError:  # no such study in the file
        return {}
    return {f"trial_{t.user_attrs['ray_trial_id']}": t.number for t in study.trials if "ray_trial_id" in t.user_attrs}


class Search:
    def __init__(self, study: StudyConfig, space: SearchSpace, study_dir: Path, db: Path, resources: Any) -> None:
        self.study = study
        self.space = space
        self.dir = study_dir
        self.db = db
        self.resources = resources

    def run(self, ipc: int, default: dict[str, Any], setup: TrialSetup, resume: bool = False) -> Any:
        """Run (or, with ``resume``, restore and finish) the search of one IPC; its ResultGrid."""
        from ray import tune

        trainable = tune.with_resources(
            tune.with_parameters(dd_trainable, setup=setup),
            {"cpu": self.resources.cpu, "gpu": self.resources.gpu},
        )
        exp_dir = self.dir / f"ipc{ipc}"
        if resume and tune.Tuner.can_restore(str(exp_dir)):
            print(f"[dd_tune] IPC {ipc}: restoring the interrupted search from {exp_dir}", flush=True)
            # finished trials are kept; unfinished ones continue from their last checkpoint; errored
            # ones stay failed (they already used their retries); the searcher state comes back too
            tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True,
                                       resume_errored=False, restart_errored=False)
            # the restored trials' numbers, for their names and the batch order (dd_tune.search.ordered)
            for folder, number in optuna_numbers(self.db, optuna_name(self.study, ipc)).items():
                trial_names.record(folder.removeprefix("trial_"), number)
        else:
            if resume:  # interrupted before Tune saved any state: drop the half-made Optuna study
                self._delete_optuna_study(ipc)
            tuner = self._new_tuner(ipc, default, trainable)
        with handlers_restored(), tune_console():  # Tune's SIGINT handler would outlive fit and swallow Ctrl-C
            grid = tuner.fit()
        self._check_complete(grid, ipc)
        if resume:
            self._fail_orphans(ipc)
        return grid

    def _fail_orphans(self, ipc: int) -> None:
        """Optuna trials asked for just before a kill that Tune never recorded stay RUNNING forever;
        close them as FAIL (with the reason) so the sqlite study holds only what really ran."""
        import optuna

        storage = optuna.storages.RDBStorage(f"sqlite:///{self.db}")
        study = optuna.load_study(study_name=optuna_name(self.study, ipc), storage=storage)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_system_attr(t._trial_id, "dd_tune_orphaned",
                                          "suggested before the driver was killed; never ran")
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)

    def _delete_optuna_study(self, ipc: int) -> None:
        import optuna

        if not self.db.exists():
            return
        storage = optuna.storages.RDBStorage(f"sqlite:///{self.db}")
        if optuna_name(self.study, ipc) in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
            optuna.delete_study(study_name=optuna_name(self.study, ipc), storage=storage)

    def _check_complete(self, grid: Any, ipc: int) -> None:
        """Tune returns normally (rc 0, partial grid) on Ctrl-C: detect it and point to --resume."""
        trials = grid._experiment_analysis.trials  # the only public-enough place with trial statuses
        unfinished = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
        wanted = self.study.search.num_samples
        if unfinished or len(trials) < wanted:
            finished = len(trials) - len(unfinished)
            raise StudyInterrupted(
                f"the IPC {ipc} search stopped after {finished} of {wanted} trials; continue it with the "
                f"same command plus --resume (finished trials are kept)")

    def _new_tuner(self, ipc: int, default: dict[str, Any], trainable: Any) -> Any:
        from ray import tune

        s = self.study.search
        url = f"sqlite:///{self.db}"
        searcher = make_searcher(self.study, self.space, ipc, default, url)
        scheduler = make_scheduler(self.study, self.space, url, optuna_name(self.study, ipc))
        return tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=s.num_samples,
                # a deterministic search limits itself (its batches): Tune's own limiter would only warn
                max_concurrent_trials=None if s.deterministic else s.max_concurrent_trials,
                # t03_lr_img=0.51_factor=2 (how it differs from the defaults, t00_defaults): TensorBoard's run
                # name, the report's and the console's t03
                trial_dirname_creator=dirname_creator(list(self.space), default),
                # a finished trial's actor runs the next one: no process start, torch import or data
                # load per trial (the overhead probe measured ~4 s of those per trial on 2 cores); Ray
                # moves the working directory to each new trial's folder, so artifacts stay per trial
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"ipc{ipc}", storage_path=str(self.dir),
                sync_config=tune.SyncConfig(sync_artifacts=True),
                failure_config=tune.FailureConfig(max_failures=s.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                # one line per trial start/finish with an ETA; Ray's 30-second tables with --verbose
                callbacks=[progress_callback(s.num_samples, sorted(self.space), ipc,
                                             max_iterations(self.study, self.space)), trial_board(default)],
                verbose=tune_verbosity(),
            ),
        )


def make_searcher(study: StudyConfig, space: SearchSpace, ipc: int, default: dict[str, Any],
                  storage_url: str | None) -> Any:
    """The search's Optuna searcher (seeded TPE; ``storage_url`` None keeps the study in memory); with
    ``search.deterministic``, TPE reseeded per trial number behind a batch limiter (dd_tune.search.ordered)."""
    import optuna

    if tune_verbosity() == 0:  # "A new study created in RDB ...": the start line already names the study
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_startup = max(1, min(10, study.search.num_samples // 3))
    # Searching IPC makes it a two-objective study: accuracy up, synthetic images down (the report
    # shows the Pareto front). ASHA compares one metric across rungs, so it is off then.
    multi = "ipc" in space
    s = study.search
    sampler = (ordered.NumberSeededTPE(study.seed, n_startup_trials=n_startup) if s.deterministic
               else optuna.samplers.TPESampler(seed=study.seed, n_startup_trials=n_startup))
    searcher = optuna_search.ResumableOptunaSearch(
        space=to_optuna(space), metric=[METRIC, IMAGES] if multi else METRIC,
        mode=["max", "min"] if multi else "max",
        points_to_evaluate=[default],
        sampler=sampler,
        storage=optuna.storages.RDBStorage(storage_url) if storage_url else None,
        study_name=optuna_name(study, ipc),
    )
    if not s.deterministic:
        return searcher
    return ordered.NumberOrderLimiter(searcher, max_concurrent=s.max_concurrent_trials, batch=True)


def make_scheduler(study: StudyConfig, space: SearchSpace, storage_url: str = "", study_name: str = "") -> Any:
    """ASHA on the distillation iteration (FIFO when ASHA is off, the trial length is not known, or the
    study has two objectives); with ``search.deterministic`` ASHA's rungs decided against earlier batches
    only, read from the Optuna study at ``storage_url`` (dd_tune.search.ordered)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = study.search
    max_it = max_iterations(study, space)
    if s.asha.enabled and max_it > 0 and "ipc" not in space:
        if s.deterministic and storage_url:
            rungs = ordered.milestones(s.asha.grace_period * s.report_every, max_it, s.asha.reduction_factor)
            return ordered.OrderFreeHalving(ITERATION, METRIC, rungs, s.max_concurrent_trials,
                                            s.asha.reduction_factor, storage_url, study_name)
        return ASHAScheduler(time_attr=ITERATION, metric=METRIC, mode="max", max_t=max_it,
                             grace_period=s.asha.grace_period * s.report_every,
                             reduction_factor=s.asha.reduction_factor)
    return FIFOScheduler()


def check_search(study: StudyConfig, space: SearchSpace) -> None:
    """Build every IPC's search as the run will (space, seeded sampler, scheduler) and draw its first two
    points (the defaults, then one sampled), in memory: a search Optuna or Ray would reject fails here,
    before a directory is replaced or Ray starts. Imports Ray Tune (about 2 s); starts nothing."""
    if not space:
        raise ConfigError(f"study {study.name}: the search space is empty (every key excluded?); a search needs "
                          f"at least one parameter")
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created in memory" line
    try:
        for ipc in study.ipc:
            _dry_run(study, space, ipc)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _dry_run(study: StudyConfig, space: SearchSpace, ipc: int) -> None:
    """One IPC's searcher and scheduler built in memory; its first two suggestions drawn."""
    what = f"study {study.name}, IPC {ipc}"
    try:
        # the searcher itself, not the batch limiter around it (a batch of one would refuse the second)
        built = make_searcher(study, space, ipc, default_point(study, space, ipc), None)
        searcher = getattr(built, "searcher", built)
        make_scheduler(study, space, "sqlite://", "dry_run")
        first, second = searcher.suggest("dry_run_0"), searcher.suggest("dry_run_1")
    except ConfigError:
        raise
    except (ValueError, TypeError, AssertionError, OverflowError) as e:
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else "no detail"
        raise ConfigError(f"{what}: the search cannot be built: {type(e).__name__}: {detail}") from None
    if not isinstance(first, dict) or not isinstance(second, dict):
        raise ConfigError(f"{what}: the search could not suggest a configuration ({second!r})")
