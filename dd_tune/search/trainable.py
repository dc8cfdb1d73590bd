"""The Ray Tune function trainable: a thin adapter from a trial config to a :class:`Distiller`.

:func:`run_trial` holds the loop and is Ray-free (tested in-process); :func:`dd_trainable` wires it
to ``tune.report``/``tune.get_checkpoint`` and TensorBoard. Every report carries ``val_acc`` (the
proxy evaluation on the validation split) so ASHA can stop weak trials, and a checkpoint of the
distiller so a trial can resume.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from typing import Any, Callable, Mapping

import numpy as np
import torch

from dd_tune.base import seeds
from dd_tune.base.hashing import content_int
from dd_tune.base.keys import (
    DEVICE,
    DISTILL_S,
    DIVERGED,
    ELAPSED_S,
    EVAL_S,
    GPU_SHARE,
    IMAGES,
    ITERATION,
    LOSS,
    METRIC,
    METRIC_STD,
    NODE,
    NODE_ID,
    NONFINITE_STEPS,
    REACHED_BUDGET,
    REPORTED_AT,
    RESUMED_FROM,
    SETUP_S,
)
from dd_tune.core.evaluation import evaluate_synset
from dd_tune.core.grids import save_grid
from dd_tune.core.synset import SynSet
from dd_tune.search.faults import InjectedFault
from dd_tune.search.progress import tune_verbosity
from dd_tune.search.setup import TrialSetup, make_distiller

GRIDS = "grids"  # trial artifact folder of the set's pictures, one per report (and iteration 0)


Report = Callable[[dict[str, float], dict[str, Any], SynSet], None]


def run_trial(
    config: Mapping[str, Any],
    setup: TrialSetup,
    trial_index: int,
    report: Report,
    restore: dict[str, Any] | None = None,
    initial: Callable[[SynSet], None] | None = None,
) -> None:
    """Distil in chunks of ``search.report_every`` iterations, proxy-evaluate, ``report(metrics (always
    with val_acc and it), resumable state, current set)``; ``initial(set)`` sees a fresh trial's first set.
    A trial diverges when its learned state becomes non-finite or no iteration of a report interval had a
    finite loss: ``val_acc = 0``, ``diverged = 1`` (a result, not a crash); a skipped step is counted."""
    torch.set_num_threads(max(1, setup.threads))
    t_start = time.time()
    distiller, data = make_distiller(setup, config, trial_index)
    setup_s = time.time() - t_start  # data on the device + the initial set: the report's time table
    device = data.train.device
    eval_gen = seeds.generator(seeds.trial_seed(setup.study.seed, trial_index, seeds.TRIAL_PROXY_EVAL), device)
    if restore is not None:
        distiller.load_state_dict(restore["distiller"])
        eval_gen.set_state(restore["eval_generator"])
    resumed_from = distiller.iteration  # 0 for a fresh trial; the checkpoint's iteration on a retry
    if initial is not None and resumed_from == 0:
        initial(distiller.synset())  # the set before any step (iteration 0 of the progress pictures)
    total = distiller.total_iterations
    last = (restore or {}).get("metrics")
    if restore is not None and last is not None and (last[DIVERGED] or distiller.iteration >= total):
        # restored from its final checkpoint (the driver died before it recorded the end): report
        # the same result again instead of re-evaluating with a moved evaluation generator
        report(_reported_again(last, resumed_from, setup_s, t_start), restore, distiller.synset())
        return
    every = max(1, setup.study.search.report_every)
    while True:
        t0 = time.time()
        metrics, distill_s = distiller.run(every), time.time()
        distill_s, loss = distill_s - t0, metrics.get(LOSS, 0.0)
        # Divergence rule: the learned state became non-finite (nothing can recover it) or no iteration
        # of this report interval had a finite loss. A method that skips a bad update (PAD) goes on.
        diverged = 2 if not distiller.state_is_finite() else 1 if not math.isfinite(loss) else 0  # DIVERGED_CAUSES
        synset = distiller.synset()
        t0 = time.time()
        if diverged:
            acc, acc_std = 0.0, 0.0
        else:
            res = evaluate_synset(synset, setup.study.proxy_eval, data.val, eval_gen, setup.study.model)
            arch = res[setup.study.proxy_eval.archs[0]]
            acc, acc_std = arch.mean, arch.std
            diverged = 0 if math.isfinite(acc) else 3
            acc = 0.0 if diverged else acc
        out = {METRIC: acc, METRIC_STD: acc_std, LOSS: loss, ITERATION: distiller.iteration,
               "ipc": distiller.ctx.ipc, IMAGES: distiller.ctx.ipc * distiller.ctx.num_classes,
               DISTILL_S: distill_s, EVAL_S: time.time() - t0, SETUP_S: setup_s, REPORTED_AT: time.time(),
               ELAPSED_S: time.time() - t_start, DIVERGED: int(diverged), RESUMED_FROM: resumed_from,
               REACHED_BUDGET: int(distiller.iteration >= total), **distiller.counters(),
               NONFINITE_STEPS: metrics.get(NONFINITE_STEPS, 0.0)}
        state = {"distiller": distiller.state_dict(), "eval_generator": eval_gen.get_state(), "metrics": out}
        report(out, state, synset)
        setup_s = 0.0  # counted once, with the first report
        if diverged or distiller.iteration >= total:
            return


def _reported_again(last: dict[str, Any], resumed_from: int, setup_s: float, t_start: float) -> dict[str, Any]:
    """The final report of a trial restored from its final checkpoint: the same result, but its
    distillation and evaluation were timed in the first report (the time table sums reports), so this
    one counts only the set-up it spent now."""
    now = time.time()
    return {**last, RESUMED_FROM: resumed_from, DISTILL_S: 0.0, EVAL_S: 0.0, SETUP_S: setup_s,
            REPORTED_AT: now, ELAPSED_S: now - t_start}


def config_index(config: Mapping[str, Any]) -> int:
    """A stable number for a trial config (Ray's trial ids are random per run).

    Seeding trials by (study seed, config) makes a re-run of a study reproduce every trial, and two
    trials with the same sampled config produce the same result.
    """
    return content_int(dict(config))


def dd_trainable(config: dict[str, Any], setup: TrialSetup) -> None:
    """Ray Tune entry point (wrap with ``tune.with_parameters(dd_trainable, setup=...)``)."""
    import ray
    from ray import tune
    from torch.utils.tensorboard import SummaryWriter

    if tune_verbosity() == 0:  # Ray Train's "Checkpoint successfully created at ..." per checkpoint
        logging.getLogger("ray.train").setLevel(logging.WARNING)
    index = config_index(config)
    restore = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            restore = torch.load(os.path.join(d, "state.pt"), map_location="cpu", weights_only=True)
    # Files in the cwd reach <storage>/<experiment>/<trial>/ through SyncConfig(sync_artifacts=True),
    # also from worker nodes; the driver's TrialBoard writes the scalars and HParams into the same
    # folder, so a trial is one TensorBoard run (no writer where the study is not searching: the probe)
    writer = SummaryWriter(os.getcwd(), filename_suffix=".images") if setup.tensorboard else None
    node_id = ray.get_runtime_context().get_node_id()  # the report shows where each trial ran
    where = setup.placement()  # fails here, naming the node, when Ray gave a GPU that CUDA cannot see
    ran_on = {NODE_ID: node_id, DEVICE: where.device, GPU_SHARE: where.gpu, NODE: where.node}
    reports = 0

    def picture(synset: SynSet, it: int) -> None:
        # readable grid in TensorBoard and as a trial artifact (grids/it<N>.png): the study report picks
        # the best trial's first, middle and last for its progress figure
        if writer is not None:  # one column per class, ten classes to a line: a screen shows the whole set
            writer.add_image("synset", np.asarray(synset.board_image(whitening=setup.whitening())), it,
                             dataformats="HWC")
        save_grid(synset.image(whitening=setup.whitening()), os.path.join(os.getcwd(), GRIDS, f"it{it:07d}.png"))

    def report(metrics: dict[str, float], state: dict[str, Any], synset: SynSet) -> None:
        nonlocal reports
        picture(synset, int(metrics[ITERATION]))
        if writer is not None:
            writer.flush()
        with tempfile.TemporaryDirectory() as d:
            torch.save(state, os.path.join(d, "state.pt"))
            synset.save(os.path.join(d, "synset.pt"))
            tune.report({**metrics, **ran_on}, checkpoint=tune.Checkpoint.from_directory(d))
        reports += 1
        setup.pause("trial")
        if reports == 1:  # once per trial: reorders the ends of trials that run side by side (testing hook)
            setup.pause("trial_even" if index % 2 == 0 else "trial_odd")
        if setup.should_fault(config, reports, restore is not None):
            raise InjectedFault(f"injected fault after report {reports} (DD_TUNE_FAULT_AFTER_REPORTS)")

    try:
        run_trial(config, setup, index, report, restore, initial=lambda synset: picture(synset, 0))
    finally:
        if writer is not None:
            writer.close()
