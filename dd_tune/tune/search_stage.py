"""The search stage of one IPC: Ray Tune + Optuna over its trials, the trial records, and what it cost
(its wall time, the trial slots that ran side by side, the nodes lost while it ran)."""

from __future__ import annotations

import time
from typing import Any

from dd_tune.base.errors import StudyFailed
from dd_tune.search.setup import TrialSetup
from dd_tune.search.trial_rows import trial_rows
from dd_tune.search.tuner import Search, optuna_name, optuna_numbers
from dd_tune.tune.capacity import cluster_capacity
from dd_tune.tune.cluster import dead_nodes
from dd_tune.tune.confirm import usable
from dd_tune.tune.ipc_record import IpcContext, SearchOutcome
from dd_tune.tune.resources import Resources


def trial_slots(resources: Resources, concurrency: int) -> float:
    """How many trials run at once: what Ray can place with this study's per-trial resources, node by
    node (a 2-GPU node holds eight 0.25-GPU trials if its CPUs allow), capped by ``max_concurrent_trials``."""
    placeable = cluster_capacity().slots(resources.cpu, resources.gpu)
    return float(max(1, min(concurrency, placeable)))


def announce_slots(ctx: IpcContext, resources: Resources) -> float:
    """Print how many trials run side by side (what Ray can place now, capped by the study's limit)."""
    r, limit = resources, ctx.study.search.max_concurrent_trials
    placeable = cluster_capacity().slots(r.cpu, r.gpu)
    slots = float(max(1, min(limit, placeable)))
    share = f"{r.gpu:g} GPU + {r.cpu:g} CPU" if r.gpu else f"{r.cpu:g} CPU"
    print(f"[dd_tune] IPC {ctx.ipc}: {slots:g} trial(s) at once ({share} each: the nodes up now hold "
          f"{placeable}, max_concurrent_trials is {limit})", flush=True)
    return slots


def run_search(ctx: IpcContext, default: dict[str, Any], setup: TrialSetup, resources: Resources,
               resume: bool) -> SearchOutcome:
    """The search of one IPC, its trial records, and what it cost; fails when every trial failed."""
    t0 = time.time()
    slots = announce_slots(ctx, resources)
    lost_before = dead_nodes()
    grid = Search(ctx.study, ctx.space, ctx.study_dir, ctx.db, resources).run(ctx.ipc, default, setup, resume)
    s = ctx.study.search
    # t03_... folders carry their Optuna number; trial_<id> folders of earlier versions are looked up by id
    rows = trial_rows(grid, optuna_numbers(ctx.db, optuna_name(ctx.study, ctx.ipc)))
    if not usable(grid):
        raise StudyFailed(f"all {len(grid)} trials failed; first error: "
                          f"{next((x.error for x in rows if x.error), 'none reported')}")
    slots = max(slots, trial_slots(resources, s.max_concurrent_trials))
    return SearchOutcome(grid, rows, time.time() - t0, slots, s.max_concurrent_trials if s.deterministic else 0,
                         len(dead_nodes() - lost_before))
