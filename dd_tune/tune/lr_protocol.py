"""The evaluation's learning rate as a protocol dimension, done honestly.

DD-Ranking sweeps the evaluation lr over {0.001, 0.005, 0.01, 0.05, 0.1} and keeps the best *test*
accuracy per set. Here each set's lr is chosen per architecture on the **validation** split
(``final_eval.lr_select_models`` fresh models per lr, the final protocol's epochs, their own seed stream),
the same way for every row (tuned, defaults, every random-real draw), and only then tested with the
test pass's K models — the same seeds as the fixed-lr rows, so each pair of rows is paired. A learned
step size (PAD's alpha) is replaced by the chosen lr in these rows.
"""

from __future__ import annotations

import statistics
from typing import Mapping, Sequence

from dd_tune.base import seeds
from dd_tune.records import LrChoice
from dd_tune.tune.final_eval import EvalJob, EvalOutcome

Choice = dict[str, dict[str, LrChoice]]  # set -> arch -> the chosen lr and every lr's mean validation accuracy


def selection_jobs(names: Sequence[str], archs: Sequence[str], grid: Sequence[float], models: int,
                   max_images: int = 0) -> list[EvalJob]:
    """Validation jobs: every set x architecture x lr x model."""
    return [EvalJob(name, arch, k, split="val", stream=seeds.LR_SELECT, lr=float(lr), max_images=max_images)
            for arch in archs for name in names for lr in grid for k in range(models)]


def choose_lrs(outcomes: Mapping[EvalJob, EvalOutcome], names: Sequence[str], archs: Sequence[str],
               grid: Sequence[float]) -> Choice:
    """Per set and architecture, the lr of the highest mean validation accuracy (ties: the smaller lr).
    Reads validation jobs only."""
    if any(j.split != "val" for j in outcomes):
        raise AssertionError("the evaluation-lr choice may only read the validation split")
    out: Choice = {}
    for name in names:
        for arch in archs:
            means = {float(lr): statistics.fmean(o.acc for j, o in outcomes.items()
                                                 if j.set == name and j.arch == arch and j.lr == float(lr))
                     for lr in grid}
            finite = {lr: m for lr, m in means.items() if m == m}
            best = max(sorted(finite), key=lambda lr: finite[lr]) if finite else float(grid[0])
            out.setdefault(name, {})[arch] = LrChoice(best, means)
    return out


def testing_jobs(choice: Choice, models: int) -> list[EvalJob]:
    """The test pass of the chosen lrs: K models, the fixed rows' seeds."""
    return [EvalJob(name, arch, k, lr=info.lr) for name, by_arch in choice.items()
            for arch, info in by_arch.items() for k in range(models)]
