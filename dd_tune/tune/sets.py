"""The synthetic sets a study re-evaluates, beside the best trial's: the reference defaults, random real
(several draws), the hard-label variant of a soft-label set, the named points and the init variants.

Sets that still have to be distilled are Ray tasks submitted at once; their ``ObjectRef`` s go straight
to the re-evaluation, so every extra distillation runs beside the re-evaluation of the finished sets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import torch

from dd_tune.base import seeds
from dd_tune.base.keys import ITERATION, START
from dd_tune.core.synset import SynSet
from dd_tune.methods import budget_free, init_of
from dd_tune.methods.configs import with_method_values
from dd_tune.methods.random_real import RandomRealConfig
from dd_tune.records import SetId
from dd_tune.search.placement import TASK_RETRIES
from dd_tune.search.setup import TrialSetup, make_distiller
from dd_tune.search.trainable import config_index

SetupFor = Callable[..., TrialSetup]  # (ipc, study=None) -> TrialSetup


def distill_task(setup: TrialSetup, config: dict[str, Any], trial_index: int, run: bool = True) -> SynSet:
    """Distil one configuration to its full budget, without proxy evaluation (default/random real);
    ``run=False``: the images it starts from (its initialisation, seeded like the trial)."""
    torch.set_num_threads(setup.threads)
    distiller, _ = make_distiller(setup, config, trial_index)
    if run:
        distiller.run(distiller.total_iterations)
    return distiller.synset()


def distill_prefixes(setup: TrialSetup, config: dict[str, Any], trial_index: int,
                     stops: tuple[int, ...]) -> tuple[SynSet, ...]:
    """One run of ``config`` (a budget-free method, at the longest of ``stops``), its set read at each
    iteration count of ``stops`` (ascending): the sets shorter runs with the same seed would give."""
    torch.set_num_threads(setup.threads)
    distiller, _ = make_distiller(setup, {**config, "iterations": max(stops)}, trial_index)
    out = []
    for stop in stops:
        distiller.run(stop - distiller.iteration)
        out.append(distiller.synset())
    return tuple(out)


def budget_groups(setup: TrialSetup, points: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The named points as runs: points that differ only in ``iterations``, of a method whose run does
    not depend on its budget, share one run (a 1000-iteration run read at 500 is the 500-iteration run);
    every other point is a run of its own. Each group is in ascending budget."""
    groups: dict[Any, list[tuple[int, str]]] = {}
    for name, values in points.items():
        cfg = with_method_values(setup.study, values, f"named point '{name}'")
        shared = budget_free(setup.study.method, cfg) and hasattr(cfg, "iterations")
        key = repr(dataclasses.replace(cfg, iterations=0)) if shared else name
        groups.setdefault(key, []).append((int(getattr(cfg, "iterations", 0)), name))
    return [[name for _, name in sorted(members)] for members in groups.values()]


def named_sets(setup: TrialSetup, cpu: float, gpu: float) -> dict[str, Any]:
    """The study's named points as ``ObjectRef`` s, one Ray task per run (see :func:`budget_groups`)."""
    import ray

    points = {name: dict(values) for name, values in setup.study.named_points.items()}
    out: dict[str, Any] = {}
    for group in budget_groups(setup, points):
        if len(group) == 1:
            out[group[0]] = distill_remote(setup, points[group[0]], f"named point '{group[0]}'", cpu, gpu)
            continue
        longest = points[group[-1]]
        stops = tuple(with_method_values(setup.study, points[n], n).iterations for n in group)
        print(f"[dd_tune] distilling named points {', '.join(repr(n) for n in group)} at IPC {setup.ipc} as one "
              f"run of {stops[-1]} iterations read at {', '.join(map(str, stops))} (in parallel with the "
              f"re-evaluation)", flush=True)
        task = ray.remote(num_cpus=cpu, num_gpus=gpu, num_returns=len(group),
                          max_retries=TASK_RETRIES)(distill_prefixes)
        refs: Any = task.remote(setup, longest, config_index(longest), stops)  # num_returns: one ref per stop
        out.update(zip(group, refs))
    return out


def distill_remote(setup: TrialSetup, values: dict[str, Any], what: str, cpu: float, gpu: float,
                   trial_index: int | None = None, run: bool = True) -> Any:
    """Submit the distillation as a Ray task and return its ``ObjectRef`` without waiting. ``trial_index``:
    the trial whose random draws to repeat (default: the one a trial of ``values`` gets)."""
    import ray

    cfg = with_method_values(setup.study, values, what)
    steps = f"{cfg.iterations} iterations" if run else "its initialisation only"
    print(f"[dd_tune] distilling {what} at IPC {setup.ipc} ({steps}, in parallel with the re-evaluation)",
          flush=True)
    task = ray.remote(num_cpus=cpu, num_gpus=gpu, max_retries=TASK_RETRIES)(distill_task)
    return task.remote(setup, values, config_index(values) if trial_index is None else trial_index, run)


def random_real_sets(setup: TrialSetup, factor: int = 1) -> dict[str, SynSet]:
    """``final_eval.random_real_draws`` independent random-real sets (``random_real_draw<d>``); with
    ``factor`` > 1 the multi-formation baseline instead (``random_real_x<factor>_draw<d>``: factor² random
    real images tiled into each stored image, decoded at evaluation like the tuned set, as IDC's
    random-real comparison). Factor 1 asked for as the baseline of a factor-1 set gives nothing more."""
    study = dataclasses.replace(setup.study, method="random_real", distill=RandomRealConfig(factor=factor))
    rr = dataclasses.replace(setup, study=study)
    return {str(SetId.random_real(factor, d + 1)): distill_task(rr, {}, seeds.random_real_index(d))
            for d in range(setup.study.final_eval.random_real_draws)}


def default_set(grid: Any, default: dict[str, Any], setup: TrialSetup, cpu: float, gpu: float) -> Any:
    """The default trial's final set when it ran its full budget (ASHA may have stopped it), else a
    distillation of the default configuration."""
    full = setup.study.distill.iterations
    for r in grid:
        if r.error is None and r.config == default and r.checkpoint is not None \
                and (r.metrics or {}).get(ITERATION, -1) >= full:
            with r.checkpoint.as_directory() as d:
                return SynSet.load(Path(d) / "synset.pt")
    return distill_remote(setup, default, "the default configuration", cpu, gpu)


def extra_sets(best_set: SynSet, best_values: dict[str, Any], best_cfg: Any, setup: TrialSetup,
               best_setup: TrialSetup, cpu: float, gpu: float, best_index: int) -> dict[str, Any]:
    """The tuned set's starting images, the hard-label variant (soft-label / learned-lr methods), the
    named points, the init variants. ``best_index``: the chosen trial's seed index."""
    sets: dict[str, Any] = {}
    if best_cfg.iterations > 0:
        # the tuned trial's own initial images (same seed, same selection, same decoding), so that the
        # paired difference says what distillation added beyond its initialisation (herding, k-centre,
        # multi-formation of real images are strong baselines on their own)
        sets[START] = distill_remote(best_setup, best_values, "the tuned configuration", cpu, gpu,
                                         trial_index=best_index, run=False)
    if best_set.lr is not None or best_set.labels.dim() == 2:
        # learned step size / soft labels are part of the method; this row keeps methods comparable:
        # every image labelled with its class (not the argmax of its learned label), protocol lr
        sets["best_hard_lr0.01"] = best_set.with_class_labels()
    sets.update(named_sets(setup, cpu, gpu))
    for init in setup.study.init_variants:  # noise vs real init at the tuned hyperparameters
        sets[f"best_init_{init}"] = best_set if init_of(best_cfg) == init else distill_remote(
            best_setup, {**best_values, "init": init}, f"the tuned configuration with init {init}", cpu, gpu)
    return sets
