"""A parallel search whose trials do not depend on the order in which they finish (``search.deterministic``).

Three sources of order dependence in a Ray Tune + Optuna + ASHA search, and what replaces each:

* **What TPE has seen.** Suggestions are handed out in batches of ``width`` trials (the study's
  ``max_concurrent_trials``): trials ``b*width .. b*width + width - 1`` form batch ``b``, and the next batch
  is suggested only after every trial of this one has ended. Optuna is told a batch's results in
  trial-number order. Every suggestion therefore sees the same finished history in every run.
* **The sampler's random state.** :class:`NumberSeededTPE` reseeds TPE before each trial from (study seed,
  trial number), so a suggestion is a function of its number and that history, not of how many draws came
  before it. This also makes a suggestion that was asked just before a kill (an "orphan": Optuna holds it,
  Tune never ran it) come out the same when it is asked again. ``constant_liar`` is off, so trials that
  are still running do not enter TPE's model.
* **Early stopping.** :func:`order_free_halving` keeps ASHA's rungs (the same milestones, the same
  ``1 - 1/reduction_factor`` quantile cut) but decides a trial at a rung only from the values that trials
  of *earlier batches* recorded at that rung, read from the Optuna storage. Those trials all have smaller
  numbers and had all ended before the trial started, so the decision never depends on which result
  arrived first. Because it reads the storage, a resumed study decides exactly as an uninterrupted one,
  while Ray's ASHA loses its rungs on a restore.

The cost: a slot that is free stays idle until the slowest trial of its batch ends (the report's time
table shows the idle slot-seconds).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping

import numpy as np

from dd_tune.base.seeds import sampler_seed
from dd_tune.search import trial_names

_CLASSES: dict[str, type] = {}


def batch_start(number: int, width: int) -> int:
    """The number of the first trial of ``number``'s batch."""
    return (number // width) * width


def milestones(min_t: int, max_t: int, reduction_factor: int) -> list[int]:
    """ASHA's rungs (one bracket): ``min_t * rf**k`` for as many k as Ray's ASHA makes, ascending."""
    if min_t <= 0 or max_t < min_t:
        return []
    count = int(math.log(max_t / min_t) / math.log(reduction_factor) + 1)
    return [min_t * reduction_factor**k for k in range(count)]


def rung_value(curve: Mapping[int, float], milestone: int) -> float | None:
    """A trial's value at a rung: its first reported value at or past the milestone (as ASHA records it);
    None if it never got there."""
    steps = [s for s in curve if s >= milestone]
    return curve[min(steps)] if steps else None


def cutoff(values: list[float], reduction_factor: int) -> float | None:
    """The rung's cut: the ``1 - 1/rf`` quantile of the earlier batches' values, as Ray's ASHA computes it
    (None: nothing to compare)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.percentile(finite, (1 - 1 / reduction_factor) * 100)) if finite else None


def decide(number: int, step: int, value: float, curves: Callable[[int], Mapping[int, Mapping[int, float]]],
           rungs: list[int], width: int, reduction_factor: int) -> bool:
    """Whether trial ``number`` continues after reporting ``value`` at ``step``.

    ``curves(before)``: {trial number: {step: value}} of the trials numbered below ``before``. The trial is
    judged at the highest rung it has reached, against earlier batches only."""
    reached = [m for m in rungs if step >= m]
    if not reached:
        return True
    rung = reached[-1]
    earlier = curves(batch_start(number, width))
    values = [v for curve in earlier.values() if (v := rung_value(curve, rung)) is not None]
    cut = cutoff(values, reduction_factor)
    return cut is None or not value < cut


def optuna_curves(storage_url: str, study_name: str) -> Callable[[int], dict[int, dict[int, float]]]:
    """``curves(before)`` read from the Optuna study: the intermediate values (at the distillation
    iteration) of every trial numbered below ``before``."""

    def curves(before: int) -> dict[int, dict[int, float]]:
        study = _study(storage_url, study_name)
        return {t.number: dict(t.intermediate_values) for t in study.get_trials(deepcopy=False)
                if t.number < before}

    return curves


@functools.lru_cache(maxsize=4)
def _study(storage_url: str, study_name: str) -> Any:
    """The Optuna study, loaded once per driver (its storage reads the current rows on every query)."""
    import optuna

    return optuna.load_study(study_name=study_name, storage=storage_url)


def _build_scheduler() -> type:
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class OrderFreeHalving(FIFOScheduler):
        """ASHA's rungs, decided against earlier batches only (module docstring)."""

        def __init__(self, time_attr: str, metric: str, rungs: list[int], width: int, reduction_factor: int,
                     storage_url: str, study_name: str) -> None:
            super().__init__()  # type: ignore[no-untyped-call]  # Ray's FIFOScheduler, unannotated
            self._time_attr, self._metric_name = time_attr, metric
            self._rungs, self._width, self._rf = rungs, width, reduction_factor
            self._storage_url, self._study_name = storage_url, study_name
            self._decided: set[tuple[str, int]] = set()  # (trial id, rung): a rung decides a trial once

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            step, value = result.get(self._time_attr), result.get(self._metric_name)
            number = trial_names.NUMBERS.get(trial.trial_id)
            if step is None or value is None or number is None:
                return TrialScheduler.CONTINUE
            reached = [m for m in self._rungs if step >= m]
            if not reached or (trial.trial_id, reached[-1]) in self._decided:
                return TrialScheduler.CONTINUE
            self._decided.add((trial.trial_id, reached[-1]))
            go_on = decide(number, int(step), float(value), optuna_curves(self._storage_url, self._study_name),
                           self._rungs, self._width, self._rf)
            return TrialScheduler.CONTINUE if go_on else TrialScheduler.STOP

    OrderFreeHalving.__module__ = __name__
    OrderFreeHalving.__qualname__ = "OrderFreeHalving"
    return OrderFreeHalving


def _build_limiter() -> type:
    from ray.tune.search import ConcurrencyLimiter

    class NumberOrderLimiter(ConcurrencyLimiter):
        """Ray's batch concurrency limiter, telling the searcher a batch's results in trial-number order."""

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            if trial_id not in self.live_trials:
                return
            self.cached_results[trial_id] = (result, error)
            self.num_unfinished_live_trials -= 1
            if self.num_unfinished_live_trials > 0:
                return
            for tid in sorted(self.cached_results, key=lambda t: trial_names.NUMBERS.get(t, 1 << 30)):
                done, failed = self.cached_results[tid]
                self.searcher.on_trial_complete(tid, result=done, error=failed)
                self.live_trials.discard(tid)
            self.cached_results = {}
            self.num_unfinished_live_trials = 0

    NumberOrderLimiter.__module__ = __name__
    NumberOrderLimiter.__qualname__ = "NumberOrderLimiter"
    return NumberOrderLimiter


def _build_sampler() -> type:
    import optuna
    from optuna.samplers._lazy_random_state import LazyRandomState

    class NumberSeededTPE(optuna.samplers.TPESampler):
        """TPE reseeded before each trial from (seed, trial number) (module docstring)."""

        def __init__(self, seed: int, **kwargs: Any) -> None:
            super().__init__(seed=seed, constant_liar=False, **kwargs)
            self._study_seed = seed

        def before_trial(self, study: Any, trial: Any) -> None:
            seed = sampler_seed(self._study_seed, trial.number)
            self._rng = LazyRandomState(seed)
            self._random_sampler = optuna.samplers.RandomSampler(seed=seed)
            super().before_trial(study, trial)

    NumberSeededTPE.__module__ = __name__
    NumberSeededTPE.__qualname__ = "NumberSeededTPE"
    return NumberSeededTPE


_BUILDERS = {"OrderFreeHalving": _build_scheduler, "NumberOrderLimiter": _build_limiter,
             "NumberSeededTPE": _build_sampler}


def __getattr__(name: str) -> Any:
    """The classes on first access (importing this module imports neither Ray nor Optuna), the same class
    objects afterwards (pickle finds them by module and name when Tune restores a search)."""
    if name not in _BUILDERS:
        raise AttributeError(name)
    if name not in _CLASSES:
        _CLASSES[name] = _BUILDERS[name]()
    return _CLASSES[name]
