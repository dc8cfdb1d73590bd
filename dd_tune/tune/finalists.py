"""After the search, in the order that keeps the test split untouched until the end: the finalists'
confirmation on the validation split (choose the tuned set), the evaluation-lr choice on the validation
split, then one test pass of every row (and of the other finalists, for the proxy's fidelity)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL, START
from dd_tune.config import StudyConfig
from dd_tune.methods.configs import with_method_values
from dd_tune.methods.levers import title
from dd_tune.records import Confirmation, Finalist, LrRow, LrRows, Reeval, SetAccuracy, SetId
from dd_tune.records.confirmation import with_choice
from dd_tune.report.rows import pool_random_real
from dd_tune.search.setup import TrialSetup
from dd_tune.tune import lr_protocol
from dd_tune.tune.cluster import dead_nodes
from dd_tune.tune.confirm import Candidate, confirm, proxy_pick, top_candidates, verdict
from dd_tune.tune.final_eval import EvalJob, EvalOutcome, run_jobs, summarise, testing_jobs


@dataclass
class Stage:
    """What every evaluation after the search runs with; where its jobs ran (``ran_on``: per stage label,
    jobs per device and node) and the Ray nodes that died while a stage ran (``nodes_lost``)."""

    study: StudyConfig
    setup: TrialSetup
    cpu: float
    gpu: float
    cache: Path
    ran_on: dict[str, dict[str, int]] = field(default_factory=dict)
    nodes_lost: dict[str, int] = field(default_factory=dict)

    def run(self, sets: dict[str, Any], jobs: Sequence[EvalJob], label: str) -> dict[EvalJob, EvalOutcome]:
        before = dead_nodes()
        out = run_jobs(sets, jobs, self.setup, self.cpu, self.gpu, self.cache, label)
        lost = len(dead_nodes() - before)
        if lost:  # its jobs ran again elsewhere (Ray's task retries): the accuracies are the same
            self.nodes_lost[label] = self.nodes_lost.get(label, 0) + lost
        tally = self.ran_on.setdefault(label, {})
        for outcome in out.values():
            tally[outcome.ran_on] = tally.get(outcome.ran_on, 0) + 1
        return out


def confirmation(stage: Stage, grid: Any, default: dict[str, Any],
                 default_source: Any) -> tuple[list[Candidate], Confirmation]:
    """The finalists and their confirmation (validation split only); with ``top_k`` 0 the proxy's pick is
    chosen and no model is trained."""
    c = stage.study.search.confirm
    candidates = top_candidates(grid, default, default_source, c.top_k)
    sources = {x.name: x.source for x in candidates}
    arch = stage.study.proxy_eval.archs[0]
    if c.top_k > 0:
        rows = confirm(candidates, arch, c.models, lambda jobs: stage.run(sources, jobs, "confirmation"),
                       c.max_eval_images)
    else:  # nothing confirmed: each finalist's "mean" is its proxy score
        unconfirmed = [Finalist(x.name, x.is_default, x.proxy, x.iterations, dict(x.values), arch,
                                SetAccuracy(runs=[], mean=x.proxy if x.proxy is not None else math.nan,
                                            std=math.nan, n=0, ci95=None)) for x in candidates]
        rows = with_choice(unconfirmed, proxy_pick(unconfirmed) or DEFAULT)
    return candidates, Confirmation(tuple(rows), verdict(rows), c.models, c.top_k, arch,
                                    stage.study.final_eval.epochs, c.test_models or stage.study.final_eval.models)


def _choose_lrs(stage: Stage, sets: dict[str, Any]) -> lr_protocol.Choice:
    """Each row's evaluation lr, chosen on the validation split (``{}`` when the protocol has no grid)."""
    e = stage.study.final_eval
    if not e.lr_grid:
        return {}
    rows = [n for n in sets if n in (BEST, DEFAULT) or SetId.parse(n).is_draw]
    jobs = lr_protocol.selection_jobs(rows, e.archs, e.lr_grid, e.lr_select_models,
                                      stage.study.search.confirm.max_eval_images)
    picked = stage.run(sets, jobs,
                       "evaluation-lr choice (validation)")
    return lr_protocol.choose_lrs(picked, rows, e.archs, e.lr_grid)


def run_test_pass(stage: Stage, sets: dict[str, Any], candidates: list[Candidate],
              chosen: Candidate) -> tuple[Reeval, dict[str, float | None], LrRows]:
    """(the rows' test accuracies, each finalist's test mean on the confirmation's architecture, the
    chosen-lr rows). Every validation-split choice is made before the first test job is submitted."""
    e, arch = stage.study.final_eval, stage.study.proxy_eval.archs[0]
    others = {x.name: x.source for x in candidates if x is not chosen and not x.is_default}
    all_sets = {**sets, **others}
    lr_choice = _choose_lrs(stage, sets)
    fidelity_models = stage.study.search.confirm.test_models or e.models
    jobs = testing_jobs(list(sets), e.archs, e.models) + testing_jobs(list(others), [arch], fidelity_models)
    outcomes = stage.run(all_sets, jobs + lr_protocol.testing_jobs(lr_choice, e.models), "test pass")
    fixed = {j: o for j, o in outcomes.items() if j.lr is None}
    reeval = pool_random_real(summarise(fixed, list(sets)))
    tests = summarise(fixed, list(others))
    as_row = {x.name: BEST if x is chosen else DEFAULT if x.is_default else x.name for x in candidates}
    candidate_tests = {n: _mean(reeval.get(r) or tests.get(r) or {}, arch) for n, r in as_row.items()}
    chosen_lr = pool_random_real(summarise({j: o for j, o in outcomes.items() if j.lr is not None}, list(lr_choice)))
    return reeval, candidate_tests, _lr_rows(chosen_lr, lr_choice)


def _mean(by_arch: Mapping[str, SetAccuracy], arch: str) -> float | None:
    return by_arch[arch].mean if arch in by_arch else None


def _lr_rows(chosen_lr: Reeval, lr_choice: lr_protocol.Choice) -> LrRows:
    """The chosen-lr rows with what was chosen: the lr and the validation means per lr (random real: one
    choice per draw)."""
    out: LrRows = {}
    for name, by_arch in chosen_lr.items():
        for arch, entry in by_arch.items():
            if name in lr_choice:
                out.setdefault(name, {})[arch] = LrRow(entry, lr_choice[name][arch])
            else:
                draws = tuple(lr_choice[d][arch] for d in lr_choice if _pooled_into(d, name))
                out.setdefault(name, {})[arch] = LrRow(entry, None, draws)
    return out


def _pooled_into(draw: str, row: str) -> bool:
    """Whether ``draw`` (``random_real_x2_draw1``) is one of the draws of ``row`` (``random_real_x2``)."""
    set_id = SetId.parse(draw)
    return set_id.is_draw and str(set_id.pooled) == row


def row_titles(study: StudyConfig, best_cfg: Any, ipc: int, sets: dict[str, Any]) -> dict[str, str]:
    """Each main row's title: the levers its configuration uses and how many images per class its
    evaluation trains on (multi-formation decodes factor² images per stored image)."""
    factor = getattr(best_cfg, "factor", 1)
    out: dict[str, str] = {BEST: f"{title(study.method, best_cfg, study.model)}; {trains_on(ipc * factor ** 2)}",
                           DEFAULT: f"{title(study.method, study.distill, study.model)}; "
                                    f"{trains_on(ipc * getattr(study.distill, 'factor', 1) ** 2)}",
                           RANDOM_REAL: trains_on(ipc)}
    if START in sets:
        out[START] = f"{title(study.method, best_cfg, study.model)}, not distilled; {trains_on(ipc * factor ** 2)}"
    for name in sets:
        set_id = SetId.parse(name)
        if set_id.is_draw and set_id.factor > 1:
            f = set_id.factor
            out[str(set_id.pooled)] = f"{f * f} real images tiled into each stored image; {trains_on(ipc * f * f)}"
        elif name.startswith(("best_hard", "best_init_")):  # the tuned set relabelled, or re-initialised
            out[name] = trains_on(ipc * factor ** 2)
        elif name in study.named_points:
            named = with_method_values(study, dict(study.named_points[name]), name)
            out[name] = f"{title(study.method, named, study.model)}; " \
                        f"{trains_on(ipc * getattr(named, 'factor', 1) ** 2)}"
    return out


def trains_on(n: int) -> str:
    return f"trains on {n} image{'' if n == 1 else 's'} per class"

