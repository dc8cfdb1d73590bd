"""The names results are kept under, in one place (as Ray Tune's ``result.py`` names its keys): what every
trial report carries, and the rows of a study's test pass. The trainable writes these keys; the search,
TensorBoard, Optuna and the reports read them."""

from __future__ import annotations

from enum import Enum

# every trial report
METRIC = "val_acc"  # the proxy's validation accuracy (%): what the search maximises and ASHA ranks
ITERATION = "it"  # distillation iterations done: the x axis of ASHA, TensorBoard and Optuna
IMAGES = "images"  # synthetic images (IPC x classes): the second objective when a study searches IPC
DIVERGED = "diverged"  # non-zero when the trial diverged (its METRIC is then 0): the cause's code below
DIVERGED_CAUSES = {1: "no finite loss in a report interval",
                   2: "the learned state (synthetic set, learned step size) became non-finite",
                   3: "the proxy evaluation's accuracy was not finite"}
REACHED_BUDGET = "reached_budget"  # 0 when ASHA stopped the trial before its iterations: Optuna's PRUNED
DEVICE = "device"  # where the trial ran: "cuda:0 (<GPU name>)", "cpu", "cpu (simulated GPU)"
GPU_SHARE = "gpu_share"  # the GPU share Ray gave the trial (0.25: four trials per GPU)
ITERATIONS_RUN = "iterations_run"  # a chosen configuration's iterations when ASHA stopped it before its budget
NODE = "node_address"  # the node's address, host name and short id
NODE_ID = "node_id"  # Ray's id of the node the trial ran on
METRIC_STD = "val_acc_std"  # the spread of METRIC over the proxy's models
LOSS = "loss"  # the method's matching loss (a method's step returns it; the mean over a report interval)
NONFINITE_STEPS = "nonfinite_steps"  # steps of the report interval whose loss was not finite
DISTILL_S = "distill_s"  # seconds of distillation in the report interval
EVAL_S = "eval_s"  # seconds of the proxy evaluation of the report
SETUP_S = "setup_s"  # seconds of the trial's set-up (data, initial set), with its first report
REPORTED_AT = "reported_at"  # wall clock of the report
ELAPSED_S = "elapsed_s"  # seconds since the trial (or its restart) began
RESUMED_FROM = "resumed_from"  # the iteration a restarted trial continued from (0: a fresh start)
TRIAL_S = "trial_s"  # a trial row's timing: the trial's own seconds


class SetName(str, Enum):
    """The fixed rows of a study's test pass. A member is its string (a dict key, a JSON key, a folder name
    alike); the other rows are named points (their names in the study file), finalists (``t03``) and the
    draws of random real (``random_real_draw3``, pooled into RANDOM_REAL)."""

    BEST = "best"  # the configuration the confirmation chose
    DEFAULT = "default"  # the method's reference defaults at this budget
    RANDOM_REAL = "random_real"  # random real images at the same IPC, pooled over draws
    START = "best_start"  # the chosen trial's initial images, not distilled

    # written as the plain string everywhere (f-strings, str()), as Python 3.11's StrEnum does
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


BEST, DEFAULT, RANDOM_REAL, START = SetName.BEST, SetName.DEFAULT, SetName.RANDOM_REAL, SetName.START
MAIN_ROWS = (BEST, DEFAULT, RANDOM_REAL)


ENDED_AT = "ended_at"  # a trial row's wall clock at its last report (the batch wait of the time table)
BATCH = "batch"  # the time table: trials per batch of the deterministic search (0: not batched)


def trial_label(number: int) -> str:
    """``t03``: a trial as every file and line names it (its Optuna trial number)."""
    return f"t{number:02d}"


def trial_number(label: str) -> int | None:
    """The Optuna number in a trial's name or folder (``t03``, ``t03_lr_img=...`` -> 3); None otherwise."""
    head = label.split("_", 1)[0]
    return int(head[1:]) if head[:1] == "t" and head[1:].isdigit() else None
