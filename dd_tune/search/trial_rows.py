"""The rows of a finished search, read from Ray Tune's results: one plain row per trial (what the report
lists), why a trial failed, its accuracy-vs-iteration history, the time it lost to restarts and where
its time went."""

from __future__ import annotations

from typing import Any

from dd_tune.base.keys import (
    DEVICE,
    DISTILL_S,
    DIVERGED,
    DIVERGED_CAUSES,
    ELAPSED_S,
    ENDED_AT,
    EVAL_S,
    GPU_SHARE,
    ITERATION,
    LOSS,
    METRIC,
    NODE,
    REPORTED_AT,
    RESUMED_FROM,
    SETUP_S,
    TRIAL_S,
)
from dd_tune.search.trial_names import result_name


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


def trial_rows(grid: Any) -> list[dict[str, Any]]:
    """One plain row per trial of a ResultGrid (what the report lists)."""
    rows = []
    failures = {t.trial_id: int(getattr(t, "num_failures", 0) or 0) for t in grid._experiment_analysis.trials}
    for r in grid:
        m = r.metrics or {}
        rows.append({"trial": result_name(r), "config": dict(r.config or {}),
                     METRIC: m.get(METRIC), ITERATION: m.get(ITERATION), DIVERGED: m.get(DIVERGED, 0),
                     "node": m.get("node_id"), RESUMED_FROM: m.get(RESUMED_FROM),
                     # where it really ran (device, GPU share) and how often a crash or a lost node restarted it
                     DEVICE: m.get(DEVICE), GPU_SHARE: m.get(GPU_SHARE), NODE: m.get(NODE),
                     "failures": failures.get(m.get("trial_id") or "", 0), "lost_s": lost_seconds(r),
                     ELAPSED_S: m.get(ELAPSED_S), "error": failure(r), "history": history(r),
                     ENDED_AT: m.get(REPORTED_AT),  # wall clock of its last report: when its slot freed
                     "timing": trial_timing(r),
                     # a method's own counters (PAD's skipped updates): why a trial went nowhere
                     "counters": {k: v for k, v in m.items() if k.startswith(("skipped", "matching_"))}})
    return rows


def history(result: Any) -> list[list[float]]:
    """``[[iteration, val_acc], ...]`` of every report of a trial (the last report of an iteration wins,
    so a trial retried from a checkpoint is not counted twice): the accuracy-vs-iteration curves."""
    df = getattr(result, "metrics_dataframe", None)
    if df is None or ITERATION not in df or METRIC not in df:
        return []
    points = {int(i): float(a) for i, a in zip(df[ITERATION], df[METRIC]) if i == i and a == a}  # NaN != NaN
    return [[i, points[i]] for i in sorted(points)]


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


def trial_timing(result: Any) -> dict[str, float]:
    """Where one trial's time went, summed over all its reports (a retried trial's repeated work too: it
    was spent): set-up, distillation and proxy evaluation timed inside the trial, and ``trial_s``, Ray's
    ``time_total_s`` (the trainable's wall time, checkpoints and reporting included)."""
    df = getattr(result, "metrics_dataframe", None)
    if df is None or "time_total_s" not in df:
        return {}

    def total(column: str) -> float:
        return float(df[column].fillna(0.0).sum()) if column in df else 0.0

    return {SETUP_S: total(SETUP_S), DISTILL_S: total(DISTILL_S), EVAL_S: total(EVAL_S),
            TRIAL_S: float(df["time_total_s"].max())}
