"""A study's answer in words, before any table: is the tuned configuration better than, worse than or
indistinguishable from the method's reference defaults on each test architecture (with the paired
interval), and where random real lies."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL, START
from dd_tune.report.results import IpcResult, StudyResult
from dd_tune.report.rows import differences
from dd_tune.report.stats import format_difference, format_interval, summary


def verdict(row: IpcResult, method: str) -> str:
    """The IPC's answer in words, first: tuned against the method's reference defaults on each test
    architecture (paired interval), and how far both are from random real."""
    diffs = row.differences or differences(row.reeval)
    parts = []
    for d in (d for d in diffs if (d["a"], d["b"]) == (BEST, DEFAULT)):
        if d["kind"] == "same":
            parts.append(f"on {d['arch']} the search's choice is {method}'s reference defaults themselves")
        elif d["ci95"] is None or d["diff"] != d["diff"]:
            parts.append(f"on {d['arch']} tuned − defaults is {d['diff']:+.2f} points (no interval: one model)")
        elif d["covers_zero"]:
            parts.append(f"on {d['arch']} the tuned configuration cannot be told from {method}'s reference defaults "
                         f"({format_difference(d).split(' (covers')[0]}, covers 0)")
        else:
            word = "better" if d["diff"] > 0 else "worse"
            parts.append(f"on {d['arch']} the tuned configuration is {word} than {method}'s reference defaults by "
                         f"{abs(d['diff']):.2f} points (paired 95 % interval {format_interval(d['ci95'])})")
    if not parts:
        return ""
    text = "; ".join(parts)
    rr = (row.reeval.get(RANDOM_REAL) or {}).get("convnet")
    tuned = (row.reeval.get(BEST) or {}).get("convnet")
    if rr and tuned and rr.runs and tuned.runs:
        text += (f". Random real at the same IPC scores {summary(rr.runs)['mean']:.2f} % on convnet, the tuned set "
                 f"{summary(tuned.runs)['mean']:.2f} %")
    return f"**Verdict.** {text[0].upper()}{text[1:]}.{_distillation_gain(diffs)}"


def _distillation_gain(diffs: Sequence[Mapping[str, Any]]) -> str:
    """What the distillation steps added to the tuned trial's own initial images, on ConvNet."""
    d = next((d for d in diffs if (d["a"], d["b"]) == (BEST, START) and d["arch"] == "convnet"), None)
    if d is None or d["ci95"] is None or d["kind"] == "same":
        return ""
    if d["covers_zero"]:
        return (f" Its distillation steps added nothing measurable to the images it started from on convnet "
                f"({format_difference(d).split(' (covers')[0]}, covers 0): the initialisation did the work.")
    word = "added" if d["diff"] > 0 else "lost"
    return (f" Its distillation steps {word} {abs(d['diff']):.2f} points over the images it started from on convnet "
            f"(paired 95 % interval {format_interval(d['ci95'])}).")


def banner(report: StudyResult) -> list[str]:
    """A plumbing run says so before any number: its budgets are too small for its figures to mean
    anything (``smoke`` profiles, held-out sets capped at a few hundred images)."""
    if report.profile != "smoke" and "not a result" not in str(report.protocol):
        return []
    return ["> **Not a result.** This study ran a plumbing check (profile `" + str(report.profile)
            + "`: a few iterations, a few epochs, capped held-out sets). It shows that every stage runs; its "
            "accuracies, intervals and timings say nothing about the method.", ""]
