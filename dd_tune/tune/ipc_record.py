"""One IPC's record, built once from what its stages returned: the search's trials, the confirmation, the
chosen set, the test pass. Nothing is set on the record after it is built."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dd_tune.base.keys import BEST, DEFAULT, ITERATIONS_RUN
from dd_tune.config import StudyConfig, to_dict
from dd_tune.core.splits import load_test
from dd_tune.methods import METHODS
from dd_tune.methods.configs import with_method_values
from dd_tune.methods.flops import study_flops
from dd_tune.records import Confirmation, IpcResult, IpcTiming, LrRows, Reeval, SearchPlots, TrialRecord
from dd_tune.records.fidelity import fidelity
from dd_tune.report.plots import search_plots
from dd_tune.report.rows import differences
from dd_tune.search.space import SearchSpace, default_point
from dd_tune.search.trial_names import result_name
from dd_tune.search.tuner import optuna_name
from dd_tune.tune.confirm import Candidate
from dd_tune.tune.finalists import Stage, row_titles


@dataclass(frozen=True)
class IpcContext:
    """What every stage of one IPC runs in: the study as it runs at ``ipc``, its space, where it writes."""

    study: StudyConfig
    space: SearchSpace
    ipc: int
    study_dir: Path
    data_root: Path
    cpu: float
    gpu: float

    @property
    def db(self) -> Path:
        return self.study_dir / "optuna.db"


@dataclass(frozen=True)
class SearchOutcome:
    """The search: Ray Tune's grid, one record per trial, its wall seconds, the slots and batch width it
    ran with, the nodes that died while it ran."""

    grid: Any
    rows: list[TrialRecord]
    search_s: float
    slots: float
    batch: int
    nodes_lost: int


@dataclass(frozen=True)
class ChosenSet:
    """The finalist the confirmation chose, its configuration (at ``ipc``: a searched IPC may differ from
    the study's), and where its set was saved."""

    candidate: Candidate
    config: Any
    ipc: int
    out_dir: Path


@dataclass(frozen=True)
class TestOutcome:
    """The test pass: every row's accuracies, each finalist's test mean, the chosen-lr rows, the sets
    tested and the stage that ran them, and its wall seconds (with the evaluation-lr choice)."""

    reeval: Reeval
    candidate_tests: dict[str, float | None]
    lr_rows: LrRows
    sets: dict[str, Any]
    stage: Stage
    seconds: float


def as_run(cfg: Any, chosen: Candidate) -> Any:
    """The chosen configuration with the iterations its set actually ran (ASHA may have stopped the trial
    before its sampled budget): what its FLOPs count."""
    total = int(getattr(cfg, "iterations", -1))
    if 0 <= chosen.iterations < total:
        return dataclasses.replace(cfg, iterations=chosen.iterations)
    return cfg


def budget_run(cfg: Any, chosen: Candidate) -> dict[str, Any]:
    """``{ITERATIONS_RUN: n}`` when the chosen set ran fewer iterations than its configuration's budget
    (ASHA stopped its trial early): the report then says "n of N (stopped early)"; {} otherwise."""
    ran = int(getattr(as_run(cfg, chosen), "iterations", -1))
    return {ITERATIONS_RUN: ran} if ran != int(getattr(cfg, "iterations", -1)) else {}


def test_class_shares(study: StudyConfig, data_root: Path) -> list[float]:
    labels = load_test(study.dataset, data_root).labels
    return (torch.bincount(labels).double() / len(labels)).tolist()


def marked_trials(rows: list[TrialRecord], chosen: Candidate, default: dict[str, Any]) -> dict[str, str]:
    """The trials drawn in bold on the curves: the chosen one and the reference defaults' own trial."""
    out = {}
    if chosen.result is not None:
        out["chosen"] = result_name(chosen.result)
    default_trial = next((r.trial for r in rows if r.config == default), None)
    if default_trial is not None:
        out["reference defaults"] = default_trial
    return out


def _plots(ctx: IpcContext, search: SearchOutcome, chosen: Candidate) -> SearchPlots:
    return search_plots(ctx.db, optuna_name(ctx.study, ctx.ipc), ctx.study_dir / "plots" / f"ipc{ctx.ipc}",
                        search.rows, ctx.study.distill.iterations,
                        lambda note: print(f"[dd_tune] IPC {ctx.ipc}: {note}", flush=True),
                        marked=marked_trials(search.rows, chosen, default_point(ctx.study, ctx.space, ctx.ipc)))


def ipc_result(ctx: IpcContext, search: SearchOutcome, confirmation: Confirmation, confirm_s: float,
               chosen: ChosenSet, test: TestOutcome, t0: float) -> IpcResult:
    """The IPC's record, once, from its stages' outcomes (``t0``: when the IPC started)."""
    study, rows, best, ipc = ctx.study, search.rows, chosen.candidate, ctx.ipc
    seconds = sum(row.elapsed_s or 0.0 for row in rows)
    method = METHODS.get(study.method).distiller_cls
    plots = _plots(ctx, search, best)  # before the wall clock stops: drawing them is part of the IPC
    wall = time.time() - t0
    return IpcResult(
        ipc=chosen.ipc, n_trials=len(search.grid), n_errors=search.grid.num_errors,
        n_diverged=sum(1 for row in rows if row.diverged),  # DIVERGED holds the cause's code, not a count
        errors={row.trial: row.error for row in rows if row.error},
        best_val_acc=float("nan") if best.proxy is None else best.proxy,
        best_config={**to_dict(chosen.config), "ipc": chosen.ipc, **budget_run(chosen.config, best)},
        default_config={**to_dict(study.distill), "ipc": ipc},
        named_configs={n: {**to_dict(with_method_values(study, v, n)), "ipc": ipc}
                       for n, v in study.named_points.items()},
        reeval=test.reeval, differences=differences(test.reeval),
        config_notes={DEFAULT: method.config_notes(study.distill, ipc),
                      BEST: method.config_notes(chosen.config, chosen.ipc)},
        flops=study_flops(study, as_run(chosen.config, best), chosen.ipc),
        best_synset=str(chosen.out_dir / "synset.pt"), best_png=str(chosen.out_dir / "synset.png"), trials=rows,
        plots=plots, test_class_shares=test_class_shares(study, ctx.data_root),
        progress={str(int(p.stem[2:])): str(p) for p in sorted((chosen.out_dir / "progress").glob("it*.png"))},
        compute={"trial_seconds": seconds, "cpu_seconds": seconds * ctx.cpu, "gpu_seconds": seconds * ctx.gpu},
        wall_time_s=wall, confirmation=confirmation, fidelity=fidelity(confirmation.rows, test.candidate_tests),
        lr_protocol=test.lr_rows, titles=row_titles(study, chosen.config, chosen.ipc, test.sets),
        timing=IpcTiming(search.search_s, search.slots, search.batch, confirm_s, test.seconds, wall),
        job_places=test.stage.ran_on,
        nodes_lost={**({"search": search.nodes_lost} if search.nodes_lost else {}), **test.stage.nodes_lost})
