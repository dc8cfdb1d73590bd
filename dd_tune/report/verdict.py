"""A study's answer in words, before any table: is the tuned configuration better than, worse than or
indistinguishable from the method's reference defaults on each test architecture (with the paired
interval), and where random real lies."""

from __future__ import annotations

from typing import Sequence

from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL, START
from dd_tune.records import Difference, IpcResult, RowDifference, StudyResult
from dd_tune.records.document import integer
from dd_tune.records.stats import format_difference, format_interval, summary
from dd_tune.report.rows import differences, matched_random_real


def verdict(row: IpcResult, method: str) -> str:
    """The IPC's answer in words, first: tuned against the method's reference defaults on each test
    architecture (paired interval; an interval covering 0 is no evidence either way), and where random
    real decoded like the tuned set lies. States only what the intervals support."""
    every = row.differences or differences(row.reeval)
    diffs = [d for d in every if (d.a, d.b) == (BEST, DEFAULT)]
    if not diffs:
        return ""
    if any(d.difference.kind == "same" for d in diffs):  # one choice, made once, tested on every architecture
        archs = " and ".join(d.arch for d in diffs)
        text = f"the search chose {method}'s reference defaults themselves (one choice, tested on {archs})"
    else:
        text = "; ".join(_against_defaults(d, method) for d in diffs)
    return f"**Verdict.** {text[0].upper()}{text[1:]}.{_random_real(row)}{_distillation_gain(every)}"


def _against_defaults(row: RowDifference, method: str) -> str:
    d, arch = row.difference, row.arch
    if d.ci95 is None or d.diff != d.diff:
        return f"on {arch} tuned − defaults is {d.diff:+.2f} points (no interval: one model)"
    if d.covers_zero:
        return (f"on {arch} the test gives no evidence either way between the tuned configuration and "
                f"{method}'s reference defaults ({_bare(d)}, covers 0)")
    word = "better" if d.diff > 0 else "worse"
    return (f"on {arch} the tuned configuration is {word} than {method}'s reference defaults by "
            f"{abs(d.diff):.2f} points (paired 95 % interval {format_interval(d.ci95)})")


def _bare(d: Difference) -> str:
    """``+0.50 [-1.20, 2.20]``: the difference without its "covers 0" remark (the sentence says it)."""
    return format_difference(d).split(" (covers")[0]


def _random_real(row: IpcResult) -> str:
    """Random real beside the tuned set on ConvNet, decoded as the tuned set is (a multi-formation set
    trains on factor² real images per stored image: its fair baseline tiles as many)."""
    tuned = (row.reeval.get(BEST) or {}).get("convnet")
    factor = integer(row.best_config.get("factor"), 1) or 1
    plain = (row.reeval.get(RANDOM_REAL) or {}).get("convnet")
    matched = (row.reeval.get(matched_random_real(row.best_config, row.reeval)) or {}).get("convnet")
    if not (tuned and tuned.runs and matched and matched.runs):
        return ""
    if factor > 1:
        also = f"; plain random real, {summary(plain.runs)['mean']:.2f} %" if plain and plain.runs else ""
        return (f" Random real decoded like the tuned set (×{factor}: {factor * factor} real images tiled into each "
                f"stored image) scores {summary(matched.runs)['mean']:.2f} % on convnet, the tuned set "
                f"{summary(tuned.runs)['mean']:.2f} %{also}.")
    return (f" Random real at the same IPC scores {summary(matched.runs)['mean']:.2f} % on convnet, the tuned set "
            f"{summary(tuned.runs)['mean']:.2f} %.")


def _distillation_gain(diffs: Sequence[RowDifference]) -> str:
    """What the distillation steps added to the tuned trial's own initial images, on ConvNet (only what
    the paired interval supports)."""
    row = next((r for r in diffs if (r.a, r.b, r.arch) == (BEST, START, "convnet")), None)
    d = row.difference if row else None
    if d is None or d.ci95 is None or d.kind == "same":
        return ""
    if d.covers_zero:
        return (f" Whether its distillation steps added anything to the images it started from cannot be told "
                f"on convnet ({_bare(d)}, covers 0: no evidence either way).")
    word = "added" if d.diff > 0 else "lost"
    return (f" Its distillation steps {word} {abs(d.diff):.2f} points over the images it started from on convnet "
            f"(paired 95 % interval {format_interval(d.ci95)}).")


def banner(report: StudyResult) -> list[str]:
    """A plumbing run says so before any number: its budgets are too small for its figures to mean
    anything (``smoke`` profiles, held-out sets capped at a few hundred images)."""
    if report.profile != "smoke" and "not a result" not in str(report.protocol):
        return []
    return ["> **Not a result.** This study ran a plumbing check (profile `" + str(report.profile)
            + "`: a few iterations, a few epochs, capped held-out sets). It shows that every stage runs; its "
            "accuracies, intervals and timings say nothing about the method.", ""]
