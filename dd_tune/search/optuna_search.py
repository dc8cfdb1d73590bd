"""Ray Tune's OptunaSearch, made safe to resume after a hard kill of the driver.

Tune snapshots its experiment state (trial statuses, the pickled searcher) every few seconds, while
OptunaSearch commits each finished trial to the sqlite study at once. A ``kill -9`` between the two
leaves a trial that Optuna has finished but the restored Tune state still calls RUNNING; Tune then
resumes it from its checkpoint and its next result makes ``Trial.report`` raise
``UpdateFinishedTrialError``, which kills the resumed study. Here such a trial is recognised from
the storage and its late results are ignored: Optuna keeps the value it was told first, no trial is
added or duplicated. A trial Optuna handed out after Tune's last snapshot (it never ran) is handed out again
on resume instead of a new one, so the trial numbers stay those of an uninterrupted run; a kill in the middle
of Optuna's ``ask`` leaves such a trial with only its first parameters, and the rest are drawn as that ask
would have drawn them (:func:`complete_orphan`). Intermediate values
are stored at the distillation iteration, and every Optuna trial records its Ray trial id (user attribute
``ray_trial_id``: the ``trial_<id>`` folder and the id in the report's trial table); a trial that ASHA
stopped before its budget is PRUNED, not COMPLETE.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Mapping

from dd_tune.base.keys import DIVERGED, ITERATION, REACHED_BUDGET
from dd_tune.search import trial_names
from dd_tune.search.faults import ask_kill_rule

_CLASSES: dict[str, type] = {}


def _build() -> type:
    """The class, defined on first use: importing this module must not import Ray (fast --help)."""
    from ray.tune.search.optuna import OptunaSearch

    class ResumableOptunaSearch(OptunaSearch):
        def suggest(self, trial_id: str) -> Any:
            if trial_id not in self._ot_trials and self._ot_study is not None and isinstance(self._space, Mapping):
                before_ask(self._ot_study, self._space, trial_id, self._ot_trials)
            config = super().suggest(trial_id)
            ot_trial = self._ot_trials.get(trial_id)
            if isinstance(config, dict) and ot_trial is not None:  # before Tune names its folder: t03 everywhere
                trial_names.record(trial_id, ot_trial.number)
                ot_trial.set_user_attr("ray_trial_id", trial_id)
            return config

        def _stored(self, ot_trial: Any) -> Any:  # the trial as Optuna's storage holds it now
            if self._ot_study is None:  # set by set_search_properties, before any trial
                raise RuntimeError("the Optuna search has no study yet")
            return self._ot_study._storage.get_trial(ot_trial._trial_id)

        def _already_finished(self, trial_id: str) -> bool:
            if trial_id in self._completed_trials:
                return True
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is None:
                return False
            if self._stored(ot_trial).state.is_finished():
                self._completed_trials.add(trial_id)
                return True
            return False

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if self._already_finished(trial_id) or isinstance(self.metric, list):
                return  # Optuna takes no intermediate values for several objectives
            # intermediate values at the distillation iteration (Ray's counter is the report number),
            # the x axis of TensorBoard, ASHA and the report
            ot_trial = self._ot_trials[trial_id]
            ot_trial.report(result[self.metric], int(result.get(ITERATION, result["training_iteration"])))
            if "ray_trial_id" not in ot_trial.user_attrs:
                ot_trial.set_user_attr("ray_trial_id", trial_id)  # Optuna number <-> trial_<id> folder

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            if not self._already_finished(trial_id):
                ot_trial = self._ot_trials.get(trial_id)
                if ot_trial is not None and "ray_trial_id" not in ot_trial.user_attrs:
                    ot_trial.set_user_attr("ray_trial_id", trial_id)
                multi = isinstance(self.metric, list)
                if ot_trial is not None and result and not multi and self.metric in result:
                    # Tune hands a trial's last result (its end, or where ASHA stopped it) to this call
                    # only, not to on_trial_result: record it as the curve's last point too
                    step = int(result.get(ITERATION, result.get("training_iteration", 0)))
                    if step not in self._stored(ot_trial).intermediate_values:
                        ot_trial.report(result[self.metric], step)
                if stopped_early(result, error, multi_objective=multi):
                    result = None  # told PRUNED: Optuna values it at its last intermediate value
                super().on_trial_complete(trial_id, result, error)

    ResumableOptunaSearch.__module__ = __name__
    ResumableOptunaSearch.__qualname__ = "ResumableOptunaSearch"
    return ResumableOptunaSearch


def before_ask(ot_study: Any, space: Mapping[str, Any], trial_id: str, trials: dict[str, Any]) -> None:
    """Before Optuna is asked for ``trial_id``'s suggestion: after a kill, the orphan it left is taken up
    (whole) instead; else the kill-in-ask testing hook may strike."""
    trials.update(orphan_trial(ot_study, trial_id, trials))
    if trial_id in trials:
        complete_orphan(trials[trial_id], space)
    else:
        kill_in_ask(ot_study, space)


def orphan_trial(ot_study: Any, trial_id: str, trials: Mapping[str, Any]) -> dict[str, Any]:
    """``{trial_id: the lowest-numbered trial Optuna holds as RUNNING that none of ``trials`` owns}``: one
    asked just before a kill, after Tune's last snapshot, so it never ran. Handed out again (its number, its
    values) it keeps the numbering of an uninterrupted run; {} when there is none."""
    import optuna

    owned = {t._trial_id for t in trials.values()}
    running = [t for t in ot_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if t._trial_id not in owned]
    if not running:
        return {}
    ot_study._thread_local.cached_all_trials = None  # the history as storage holds it now, as ask() reads it
    return {trial_id: optuna.trial.Trial(ot_study, min(running, key=lambda t: t.number)._trial_id)}


def complete_orphan(trial: Any, space: Mapping[str, Any]) -> None:
    """Give ``trial`` (an orphan: asked with ``fixed_distributions=space``, then the driver was killed) every
    parameter of ``space``, each value the one the interrupted ``ask`` would have drawn.

    ``ask`` draws the parameters one after another from the sampler's generator, which
    ``NumberSeededTPE`` reseeded from the trial's number when the trial was made (here too: making the
    ``Trial`` object reseeds it). Drawing only the missing ones would start them at the generator's first
    draw, not where the interrupted ask had got to, and give another configuration than an uninterrupted
    run. So every parameter is drawn again in ``space``'s order, from the same finished history; a stored
    one keeps its stored value (the draw only moves the generator on) and a missing one is recorded."""
    import optuna

    for name, distribution in space.items():
        stored = trial._get_latest_trial()
        if name not in stored.distributions:
            trial._suggest(name, distribution)  # the sampler draws it, as in ask(), and storage records it
        elif not (distribution.single() or trial._is_fixed_param(name, distribution)
                  or trial._is_relative_param(name, distribution)):  # the cases where ask() does not draw
            history = optuna.pruners._filter_study(trial.study, stored)
            trial.study.sampler.sample_independent(history, stored, name, distribution)


def kill_in_ask(ot_study: Any, space: Mapping[str, Any]) -> None:
    """The testing hook ``DD_TUNE_KILL_IN_ASK=N:K`` (:func:`dd_tune.search.faults.ask_kill_rule`): about to ask
    for trial N, store only its first K parameters, then die as ``kill -9`` would. Nothing when it is off."""
    rule = ask_kill_rule(os.environ.get("DD_TUNE_KILL_IN_ASK", ""))
    if rule is None or len(ot_study.get_trials(deepcopy=False)) != rule[0]:
        return
    ot_study.ask({name: space[name] for name in list(space)[:rule[1]]})
    os.kill(os.getpid(), signal.SIGKILL)


def stopped_early(result: dict[str, Any] | None, error: bool, multi_objective: bool = False) -> bool:
    """A trial ASHA stopped before its budget (not failed, not diverged): Optuna's PRUNED. A study that
    searches IPC has two objectives and no ASHA; a report from before ``reached_budget`` existed counts
    as finished."""
    if error or not result or multi_objective:
        return False
    return not result.get(REACHED_BUDGET, 1) and not result.get(DIVERGED, 0)


def __getattr__(name: str) -> Any:
    """``ResumableOptunaSearch`` on first access, the same class object afterwards (pickle finds it by
    module and name when Tune restores a searcher)."""
    if name != "ResumableOptunaSearch":
        raise AttributeError(name)
    if name not in _CLASSES:
        _CLASSES[name] = _build()
    return _CLASSES[name]
