"""Honest numbers for reports: mean, sample std and a 95 % t-interval per row, and the difference
between two rows with its interval.

A report row is K test accuracies of fresh models. Its interval is ``mean ± t(0.975, K-1) s/sqrt(K)``
with the sample std ``s`` (n - 1). Two rows trained with the same K model seeds (every set of a study,
and the same study seed across a suite) are compared **paired**: the interval of the per-seed
differences. Rows without that pairing (a method against random real drawn several times) use
**Welch's** interval, which does not assume equal variances. With fewer than two values there is no
interval (``None``): one model is not a measurement of spread.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any, Protocol, Sequence

from dd_tune.records.difference import Difference, Kind

LEVEL = 0.95


def _t(df: float) -> float:
    """The t quantile of the two-sided 95 % interval (scipy imported when a report is computed)."""
    from scipy import stats as scipy_stats

    return float(scipy_stats.t.ppf(0.5 + LEVEL / 2, df))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "ci95"}``: sample std (n - 1) and the 95 % t-interval of the mean."""
    xs = [float(v) for v in values if math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0, "ci95": None}
    mean = statistics.fmean(xs)
    if n < 2:
        return {"mean": mean, "std": 0.0, "n": 1, "ci95": None}
    std = statistics.stdev(xs)
    half = _t(n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci95": [mean - half, mean + half]}


def by_draws(draws: Sequence[Sequence[float]]) -> dict[str, Any]:
    """A row measured as several draws of several models each, with the **draw** as the unit: the
    summary of the draw means, ``runs`` the draw means, ``models`` every model's value, ``draws`` as given
    and ``draw_means`` / ``draw_std`` for the report's spread line."""
    means = [statistics.fmean(d) for d in draws if d]
    return {**summary(means), "runs": means, "models": [float(v) for d in draws for v in d],
            "draws": [list(d) for d in draws], "draw_means": means,
            "draw_std": statistics.stdev(means) if len(means) > 1 else 0.0}


def prediction_interval(values: Sequence[float]) -> list[float] | None:
    """The 95 % interval in which **one new** value (one more fresh model trained the same way) falls:
    ``mean ± t(0.975, n-1) s sqrt(1 + 1/n)``; None with fewer than two values. This, not the interval of
    the mean, is what a single number from elsewhere (a paper's one run) is compared with."""
    xs = [float(v) for v in values if math.isfinite(float(v))]
    if len(xs) < 2:
        return None
    mean, n = statistics.fmean(xs), len(xs)
    half = _t(n - 1) * statistics.stdev(xs) * math.sqrt(1.0 + 1.0 / n)
    return [mean - half, mean + half]


def _difference(mean: float, half: float | None, n: int, kind: Kind) -> Difference:
    ci = None if half is None or not math.isfinite(half) else (mean - half, mean + half)
    return Difference(mean, ci, n, kind, None if ci is None else bool(ci[0] <= 0.0 <= ci[1]))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """a - b over pairs that share a model seed (``a[k]``, ``b[k]``): mean and 95 % t-interval.
    Identical runs are the same set trained twice (e.g. the default won the search): ``kind`` "same"."""
    if len(a) != len(b):
        raise ValueError(f"paired difference needs equal lengths, got {len(a)} and {len(b)}")
    if list(map(float, a)) == list(map(float, b)):
        return dataclasses.replace(_difference(0.0, 0.0, len(a), "same"), covers_zero=None)
    d = [float(x) - float(y) for x, y in zip(a, b) if math.isfinite(float(x)) and math.isfinite(float(y))]
    if not d:
        return _difference(float("nan"), None, 0, "paired")
    mean = statistics.fmean(d)
    half = _t(len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None
    return _difference(mean, half, len(d), "paired")


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """mean(a) - mean(b) with Welch's 95 % interval (independent samples, unequal variances)."""
    xa = [float(v) for v in a if math.isfinite(float(v))]
    xb = [float(v) for v in b if math.isfinite(float(v))]
    if not xa or not xb:
        return _difference(float("nan"), None, 0, "welch")
    mean = statistics.fmean(xa) - statistics.fmean(xb)
    if len(xa) < 2 or len(xb) < 2:
        return _difference(mean, None, len(xa) + len(xb), "welch")
    va, vb = statistics.variance(xa) / len(xa), statistics.variance(xb) / len(xb)
    se2 = va + vb
    if se2 == 0.0:
        return _difference(mean, 0.0, len(xa) + len(xb), "welch")
    df = se2**2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
    return _difference(mean, _t(df) * math.sqrt(se2), len(xa) + len(xb), "welch")


class Measured(Protocol):
    """A re-evaluated row: its accuracies, one per statistical unit (dd_tune.records.study.SetAccuracy)."""

    @property
    def runs(self) -> Sequence[float]: ...


def entry_difference(a: Measured | None, b: Measured | None, paired: bool) -> Difference | None:
    """a - b of two re-evaluated rows: paired by model seed when asked and the runs line up, Welch
    otherwise; None when either row is missing."""
    if a is None or b is None:
        return None
    if paired and len(a.runs) == len(b.runs):
        return paired_difference(a.runs, b.runs)
    return welch_difference(a.runs, b.runs)


def format_interval(ci: Sequence[float] | None, digits: int = 2) -> str:
    return "no interval (n < 2)" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def format_difference(d: Difference) -> str:
    """``+3.21 [1.02, 5.40]``, with a plain warning when the interval covers zero."""
    if not math.isfinite(d.diff):
        return "n/a"
    if d.kind == "same":
        return "0 (the same set: it won the search)"
    text = f"{d.diff:+.2f} {format_interval(d.ci95)}"
    if d.covers_zero:
        text += " (covers 0: no evidence either way)"
    return text
