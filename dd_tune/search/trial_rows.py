"""The rows of a finished search, read from Ray Tune's results: one typed record per trial (what the report
lists), why a trial failed, its accuracy-vs-iteration history, the time it lost to restarts and where
its time went."""

from __future__ import annotations

from typing import Any, Mapping

from dd_tune.base.keys import (
    DEVICE,
    DISTILL_S,
    DIVERGED,
    DIVERGED_CAUSES,
    ELAPSED_S,
    EVAL_S,
    GPU_SHARE,
    ITERATION,
    LOSS,
    METRIC,
    NODE,
    NODE_ID,
    REPORTED_AT,
    RESUMED_FROM,
    SETUP_S,
)
from dd_tune.records import TrialRecord, TrialTiming
from dd_tune.search.trial_names import number_of_dir, result_name


def failure(result: Any) -> str | None:
    """Why a trial failed: its exception's last line, or the divergence it reported; None if it did not.

    A diverged trial reports val_acc 0 to Optuna (so TPE learns to avoid the region; a FAIL state
    would be invisible to it) but is a failed trial in the report, with the reason.
    """
    if result.error is not None:
        return str(result.error).strip().splitlines()[-1][:300]
    m = result.metrics or {}
    if m.get(DIVERGED):
        cause = DIVERGED_CAUSES.get(int(m[DIVERGED]), "non-finite values")
        return f"diverged at iteration {m.get(ITERATION)}: {cause} (loss {m.get(LOSS)})"
    return None


def trial_rows(grid: Any, optuna_numbers: Mapping[str, int]) -> list[TrialRecord]:
    """One record per trial of a ResultGrid (what the report lists). ``optuna_numbers``: trial folder ->
    Optuna number, for the ``trial_<id>`` folders of earlier versions (``t03_...`` carries its number)."""
    rows = []
    failures = {t.trial_id: int(getattr(t, "num_failures", 0) or 0) for t in grid._experiment_analysis.trials}
    for r in grid:
        m = r.metrics or {}
        name = result_name(r)
        number = number_of_dir(name)
        rows.append(TrialRecord(
            trial=name, optuna=number if number is not None else optuna_numbers.get(name),
            config=dict(r.config or {}), val_acc=m.get(METRIC), iteration=m.get(ITERATION),
            diverged=int(m.get(DIVERGED, 0) or 0), node_id=m.get(NODE_ID), resumed_from=m.get(RESUMED_FROM),
            # where it really ran (device, GPU share) and how often a crash or a lost node restarted it
            device=m.get(DEVICE), gpu_share=m.get(GPU_SHARE), node_address=m.get(NODE),
            failures=failures.get(m.get("trial_id") or "", 0), lost_s=lost_seconds(r), elapsed_s=m.get(ELAPSED_S),
            error=failure(r), history=history(r), ended_at=m.get(REPORTED_AT), timing=trial_timing(r),
            # a method's own counters (PAD's skipped updates): why a trial went nowhere
            counters={k: float(v) for k, v in m.items() if k.startswith(("skipped", "matching_"))}))
    return rows


def history(result: Any) -> tuple[tuple[int, float], ...]:
    """``[[iteration, val_acc], ...]`` of every report of a trial (the last report of an iteration wins,
    so a trial retried from a checkpoint is not counted twice): the accuracy-vs-iteration curves."""
    df = getattr(result, "metrics_dataframe", None)
    if df is None or ITERATION not in df or METRIC not in df:
        return ()
    points = {int(i): float(a) for i, a in zip(df[ITERATION], df[METRIC]) if i == i and a == a}  # NaN != NaN
    return tuple((i, points[i]) for i in sorted(points))


def lost_seconds(result: Any) -> float:
    """Wall time a retried trial lost to crashes or dead nodes: for each restore, from the last report
    before it (its checkpoint) to the moment the restored attempt started again (the unreported work,
    noticing the death and placing the trial elsewhere). 0 for a trial that ran in one go."""
    df = getattr(result, "metrics_dataframe", None)
    if df is None or any(k not in df for k in (RESUMED_FROM, REPORTED_AT, ELAPSED_S)):
        return 0.0
    rows = list(zip(df[RESUMED_FROM], df[REPORTED_AT], df[ELAPSED_S]))
    return float(sum(max(0.0, (at - elapsed) - prev_at)
                     for (prev_from, prev_at, _), (now_from, at, elapsed) in zip(rows, rows[1:])
                     if now_from != prev_from))


def trial_timing(result: Any) -> TrialTiming | None:
    """Where one trial's time went, summed over all its reports (a retried trial's repeated work too: it
    was spent): set-up, distillation and proxy evaluation timed inside the trial, and ``trial_s``, Ray's
    ``time_total_s`` (the trainable's wall time, checkpoints and reporting included)."""
    df = getattr(result, "metrics_dataframe", None)
    if df is None or "time_total_s" not in df:
        return None

    def total(column: str) -> float:
        return float(df[column].fillna(0.0).sum()) if column in df else 0.0

    return TrialTiming(setup_s=total(SETUP_S), distill_s=total(DISTILL_S), eval_s=total(EVAL_S),
                       trial_s=float(df["time_total_s"].max()))
