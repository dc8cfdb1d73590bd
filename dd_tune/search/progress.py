"""One console line per trial start and finish, with the trial's values, its result and the search's ETA
(Ray Tune's 30-second status tables are off unless ``--verbose``)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Iterator, Sequence

from dd_tune.base.keys import DIVERGED, ITERATION, METRIC, REACHED_BUDGET
from dd_tune.report.tables import fmt_value
from dd_tune.search.trial_names import console_name

VERBOSE_ENV = "DD_TUNE_VERBOSE"  # set by --verbose: Ray Tune's own tables come back


def set_verbosity(verbose: bool) -> None:
    """``--verbose`` reaches the search (and the trials' processes, started after it) through the
    environment: Ray Tune's tables, Ray Train's and Optuna's info lines."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        os.environ.pop(VERBOSE_ENV, None)


def tune_verbosity() -> int:
    """Ray Tune's ``verbose`` level: 0 (dd_tune's progress lines only) unless ``--verbose``."""
    return 1 if os.environ.get(VERBOSE_ENV) == "1" else 0


@contextlib.contextmanager
def tune_console() -> Iterator[None]:
    """Around ``Tuner.fit``: at verbosity 0, Ray Tune's older console flow, which prints nothing. Its newer
    one prints a box per experiment and a TensorBoard hint to Ray's session folder (not the study's)
    whatever the verbosity. ``--verbose`` keeps the newer one."""
    if tune_verbosity() > 0 or "RAY_AIR_NEW_OUTPUT" in os.environ:  # the user's own choice wins
        yield
        return
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        os.environ.pop("RAY_AIR_NEW_OUTPUT", None)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class ProgressLines:
    """What the callback prints, kept apart from Ray so it can be tested with plain values."""

    def __init__(self, num_samples: int, keys: Sequence[str], ipc: int) -> None:
        self.n = num_samples
        self.keys = list(keys)
        self.ipc = ipc
        self.t0 = time.time()
        self.numbers: dict[str, int] = {}
        self.finished_here = 0

    def number(self, trial_id: str) -> int:
        return self.numbers.setdefault(trial_id, len(self.numbers) + 1)

    def started(self, trial_id: str, config: dict[str, Any]) -> str:
        values = " ".join(f"{k}={fmt_value(config[k], 3)}" for k in self.keys if k in config)
        return (f"[dd_tune] IPC {self.ipc} {console_name(trial_id)} started ({self.number(trial_id)} of {self.n}): "
                f"{values}")

    def finished(self, trial_id: str, result: dict[str, Any], done: int, max_it: int, error: str = "") -> str:
        self.finished_here += 1
        elapsed = time.time() - self.t0
        if error:
            outcome = f"failed ({error})"
        else:
            it = int(result.get(ITERATION) or 0)
            # the trial's own budget (a searched `iterations` may be below the space's largest)
            short = not result[REACHED_BUDGET] if REACHED_BUDGET in result else 0 < it < max_it
            stopped = " (stopped early by ASHA)" if short and not result.get(DIVERGED) else ""
            acc = result.get(METRIC)
            outcome = ("diverged" if result.get(DIVERGED) else
                       f"proxy val acc {acc:.2f} % at iteration {it}{stopped}" if acc is not None else "no result")
        left = max(0, self.n - done)
        eta = f", about {_clock(elapsed / self.finished_here * left)} left" if left else ""
        return (f"[dd_tune] IPC {self.ipc} {console_name(trial_id)} finished: {outcome}; "
                f"{done}/{self.n} done, {_clock(elapsed)} elapsed{eta}")


def progress_callback(num_samples: int, keys: Sequence[str], ipc: int, max_it: int) -> Any:
    """A Ray Tune callback printing :class:`ProgressLines` (Ray imported here, when a search starts)."""
    from ray.tune import Callback

    lines = ProgressLines(num_samples, keys, ipc)

    def done(trials: Sequence[Any], trial: Any) -> int:
        """Finished trials, this one included (Ray calls back before it marks the trial finished)."""
        finished = ("TERMINATED", "ERROR")
        return sum(1 for t in trials if t.status in finished) + (trial.status not in finished)

    class Progress(Callback):
        def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
                  **info: Any) -> None:  # a restored search starts its clock again
            lines.t0, lines.finished_here = time.time(), 0

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            print(lines.started(trial.trial_id, dict(trial.config or {})), flush=True)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            result = dict(trial.last_result or {})
            print(lines.finished(trial.trial_id, result, done(trials, trial), max_it), flush=True)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            why = str(getattr(trial, "error_msg", "") or "raised").strip().splitlines()[-1][:120] or "raised"
            print(lines.finished(trial.trial_id, {}, done(trials, trial), max_it, error=why), flush=True)

    return Progress()
