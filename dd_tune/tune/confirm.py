"""Selection that survives the winner's curse: the top trials by proxy and the reference defaults,
re-evaluated on the **validation** split with more fresh models and the final protocol's epochs, and the
tuned set chosen by that confirmation.

The proxy that ranked the trials is short and noisy, and the maximum of many noisy scores is biased
upwards: the trial that looks best is partly the luckiest. Re-measuring a few finalists with fresh
models (their own seed stream, paired across candidates) removes the part of that luck that came from the
proxy's model seeds. It does not remove the part that came from the images: the confirmation tests on the
same fixed shuffle of the validation split, and the proxy's images (its first ``proxy_eval.max_eval_images``)
are the first of the confirmation's, so a trial that happened to suit those images keeps that advantage;
the test column measures what is left. Nothing here
reads the test split: :func:`confirm` asks its evaluator for validation jobs only, and the test pass runs
after :func:`choose` has returned (``tests/test_confirm.py`` fails if either changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from dd_tune.base import seeds
from dd_tune.base.keys import DEFAULT, ITERATION, METRIC
from dd_tune.core.synset import SynSet
from dd_tune.records import Finalist
from dd_tune.records.confirmation import with_choice
from dd_tune.records.stats import paired_difference
from dd_tune.search.trial_names import result_name
from dd_tune.search.trial_rows import failure
from dd_tune.tune.final_eval import EvalJob, EvalOutcome, summarise

Evaluator = Callable[[Sequence[EvalJob]], Mapping[EvalJob, EvalOutcome]]


@dataclass
class Candidate:
    """A finalist: a trial's last set (``trial_<id>``) or the reference defaults at their full budget."""

    name: str
    values: dict[str, Any]  # the configuration (sampled keys)
    proxy: float | None  # the search's last proxy score (validation, short protocol); None if never scored
    iterations: int  # distillation iterations behind the set
    source: Any  # SynSet, or the ObjectRef of a distillation still running
    is_default: bool = False
    result: Any = field(default=None, repr=False)  # the Ray Tune result of a trial


def usable(grid: Any) -> list[Any]:
    """Trials that finished (or were stopped) with a finite proxy score and a checkpoint."""
    return [r for r in grid if failure(r) is None and r.checkpoint is not None and r.metrics
            and math.isfinite(r.metrics.get(METRIC, float("nan")))]


def _load(result: Any) -> SynSet:
    with result.checkpoint.as_directory() as d:
        return SynSet.load(Path(d) / "synset.pt")


def top_candidates(grid: Any, default: dict[str, Any], default_source: Any, top_k: int) -> list[Candidate]:
    """The ``top_k`` best trials by proxy (one per distinct configuration) and the defaults at their full
    budget (the default trial's set when it ran it, else ``default_source``, a re-distillation)."""
    ranked = sorted(usable(grid), key=lambda r: (r.metrics[METRIC], r.metrics.get(ITERATION, 0)), reverse=True)
    out: list[Candidate] = []
    seen: list[dict[str, Any]] = []
    for r in ranked:
        if len(out) >= max(1, top_k) or dict(r.config) in seen:
            continue
        seen.append(dict(r.config))
        # default_set hands over the default trial's own set only when that trial ran the whole budget
        source = default_source if isinstance(default_source, SynSet) and dict(r.config) == default else _load(r)
        out.append(Candidate(result_name(r), dict(r.config), float(r.metrics[METRIC]), int(r.metrics.get(ITERATION, 0)),
                             source, source is default_source, r))
    if not any(c.is_default for c in out):
        trial = next((r for r in ranked if dict(r.config) == default), None)
        out.append(Candidate(DEFAULT, dict(default), None if trial is None else float(trial.metrics[METRIC]),
                             -1, default_source, True, trial))
    return out


def confirmation_jobs(names: Sequence[str], arch: str, models: int, max_images: int = 0) -> list[EvalJob]:
    return [EvalJob(name, arch, k, split="val", stream=seeds.CONFIRM_EVAL, max_images=max_images)
            for name in names for k in range(models)]


def confirm(candidates: Sequence[Candidate], arch: str, models: int, evaluate: Evaluator,
            max_images: int = 0) -> list[Finalist]:
    """Every candidate's validation accuracy over ``models`` fresh models (final protocol), the paired
    difference to the defaults, and which one is chosen: one row per candidate, in proxy order."""
    names = [c.name for c in candidates]
    jobs = confirmation_jobs(names, arch, models, max_images)
    outcomes = evaluate(jobs)
    if any(j.split != "val" for j in outcomes):
        raise AssertionError("the confirmation may only read the validation split")
    acc = summarise(outcomes, names)
    default = next(c for c in candidates if c.is_default)
    rows = [Finalist(c.name, c.is_default, c.proxy, c.iterations, dict(c.values), arch, acc[c.name][arch],
                     None if c.is_default else paired_difference(acc[c.name][arch].runs, acc[default.name][arch].runs))
            for c in candidates]
    return with_choice(rows, choose(rows))


def choose(rows: Sequence[Finalist]) -> str:
    """The candidate with the highest mean validation accuracy in the confirmation (ties: the defaults,
    then the higher proxy score). Reads nothing but the confirmation rows."""
    finite = [r for r in rows if math.isfinite(r.mean)]
    if not finite:
        return next(r.name for r in rows if r.is_default)
    return max(finite, key=lambda r: (r.mean, r.is_default, r.proxy if r.proxy is not None else -1.0)).name


def proxy_pick(rows: Sequence[Finalist]) -> str | None:
    """What the search alone would have chosen: the highest proxy score among the candidates."""
    scored = [r for r in rows if r.proxy is not None]
    return max(scored, key=lambda r: r.proxy or 0.0).name if scored else None


def verdict(rows: Sequence[Finalist]) -> str:
    """One sentence: did a configuration beat the defaults on validation?"""
    chosen = next(r for r in rows if r.chosen)
    if chosen.is_default:
        return "No configuration beat the reference defaults on validation: the defaults are the tuned row."
    d = chosen.vs_default
    if d is None or d.ci95 is None or d.ci95[0] <= 0:
        return (f"The chosen configuration beat the reference defaults on validation by {d.diff:+.2f} points, "
                f"but the paired interval covers 0: no clear win on validation.") if d else ""
    return (f"The chosen configuration beat the reference defaults on validation by {d.diff:+.2f} points "
            f"[{d.ci95[0]:.2f}, {d.ci95[1]:.2f}] (paired).")
