"""The expert stage: every expert trajectory a study needs, one Ray task each, before any trial.

Experts live in ``<storage>/experts``, content-addressed, so later studies (and re-runs) that need the
same ones reuse them; concurrent requests for one key train it once (a file lock per expert).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import torch

from dd_tune.config import StudyConfig, to_dict
from dd_tune.core.evaluation import model_spec_for
from dd_tune.experts import describe_experts
from dd_tune.methods import expert_pool
from dd_tune.methods.configs import with_method_values
from dd_tune.methods.flops import expert_stage_flops
from dd_tune.records import ExpertStage
from dd_tune.search.placement import TASK_RETRIES
from dd_tune.search.setup import TrialSetup, expert_store
from dd_tune.search.space import SearchSpace, expert_variants
from dd_tune.tune.cluster import dead_nodes


def expert_pools(study: StudyConfig, space: SearchSpace) -> list[Any]:
    """Every distinct expert pool of the study: its default, its named points, every searched variant."""
    pools = {}
    for values in [{}, *study.named_points.values(), *expert_variants(space)]:
        cfg = expert_pool(with_method_values(study, values, "experts"))
        if cfg is not None:
            pools[json.dumps(to_dict(cfg), sort_keys=True)] = cfg
    return list(pools.values())


def _expert_task(setup: TrialSetup, cfg: Any, index: int) -> tuple[int, bool, float, str]:
    """Train (or find) expert ``index`` of ``cfg`` in the cache: (index, trained_now, seconds, where it ran)."""
    torch.set_num_threads(setup.threads)
    where = setup.placement()  # a GPU share without CUDA fails here, naming the node
    setup.pause("expert")
    study = setup.study
    data = setup.data()
    t0 = time.time()
    _, trained = expert_store(setup, data, model_spec_for(study.model.name, data.spec, study.model)).expert(cfg, index)
    return index, trained, time.time() - t0, where.label() + f" on {where.node}"


def run_expert_stage(study: StudyConfig, space: SearchSpace, setup: TrialSetup, cpu: float,
                     gpu: float) -> ExpertStage | None:
    """Train every expert of every pool (``setup.compute_experts``); what it did and what it cost (None
    for a study without experts)."""
    import ray

    pools = expert_pools(study, space)
    if not pools:
        return None
    # SPREAD: one expert per node before two on one, so every GPU node of the cluster trains; a task
    # whose node dies is run again elsewhere by Ray (max_retries), and trains the same expert (seeded)
    task = ray.remote(num_cpus=cpu, num_gpus=gpu, scheduling_strategy="SPREAD", max_retries=TASK_RETRIES)(_expert_task)
    before = dead_nodes()
    jobs = [task.remote(setup, cfg, i) for cfg in pools for i in range(cfg.num_experts)]
    print(f"[dd_tune] expert stage: {len(jobs)} expert(s) in {len(pools)} pool(s) of "
          f"{', '.join(str(c.num_experts) for c in pools)} (one pool per expert recipe the search can pick; "
          f"each trial reads the pool of its own recipe)", flush=True)
    t0, trained, pending, task_seconds = time.time(), 0, list(jobs), 0.0
    where: Counter[str] = Counter()
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        index, fresh, seconds, ran_on = ray.get(done[0])
        trained += int(fresh)
        task_seconds += seconds
        where[ran_on] += 1
        print(f"[dd_tune] expert task {len(jobs) - len(pending)}/{len(jobs)} ({len(pools)} pool(s) of "
              f"{', '.join(str(c.num_experts) for c in pools)}): "
              f"{'trained' if fresh else 'reused from cache'} ({seconds:.0f} s, {ran_on})", flush=True)
    counts = [int(c) for c in setup.data().train.counts]
    return ExpertStage(len(jobs), trained, len(jobs) - trained,
                       "; ".join(dict.fromkeys(describe_experts(cfg) for cfg in pools)),
                       expert_stage_flops(study, pools, counts), time.time() - t0, task_seconds, task_seconds * cpu,
                       task_seconds * gpu, setup.experts_dir, dict(where), len(dead_nodes() - before))
