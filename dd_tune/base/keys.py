"""The names results are kept under, in one place (as Ray Tune's ``result.py`` names its keys): what every
trial report carries, and the rows of a study's test pass. The trainable writes these keys; the search,
TensorBoard, Optuna and the reports read them."""

from __future__ import annotations

# every trial report
METRIC = "val_acc"  # the proxy's validation accuracy (%): what the search maximises and ASHA ranks
ITERATION = "it"  # distillation iterations done: the x axis of ASHA, TensorBoard and Optuna
IMAGES = "images"  # synthetic images (IPC x classes): the second objective when a study searches IPC
DIVERGED = "diverged"  # 1 when the trial's learned state became non-finite (its METRIC is then 0)
REACHED_BUDGET = "reached_budget"  # 0 when ASHA stopped the trial before its iterations: Optuna's PRUNED

# the rows of a study's test pass
BEST = "best"  # the configuration the confirmation chose
DEFAULT = "default"  # the method's reference defaults at this budget
RANDOM_REAL = "random_real"  # random real images at the same IPC, pooled over draws
RANDOM_REAL_DRAW = "random_real_draw"  # one draw (random_real_draw3), pooled into RANDOM_REAL
START = "best_start"  # the chosen trial's initial images, not distilled
MAIN_ROWS = (BEST, DEFAULT, RANDOM_REAL)


def trial_label(number: int) -> str:
    """``t03``: a trial as every file and line names it (its Optuna trial number)."""
    return f"t{number:02d}"
