"""The Ray Tune function trainable: a thin adapter from a trial config to a :class:`Distiller`.

:func:`run_trial` holds the loop and is Ray-free (tested in-process); :func:`dd_trainable` wires it
to ``tune.report``/``tune.get_checkpoint`` and TensorBoard. Every report carries ``val_acc`` (the
proxy evaluation on the validation split) so ASHA can stop weak trials, and a checkpoint of the
distiller so a trial can resume.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from dd_tune.config import StudyConfig, with_method_values
from dd_tune.data import load_data
from dd_tune.errors import ConfigError
from dd_tune.evaluate import evaluate_synset, model_spec_for
from dd_tune.methods import DistillContext, Distiller, build_distiller
from dd_tune.synset import SynSet

METRIC = "val_acc"
IMAGES = "images"  # second objective (minimised) when a study searches IPC


@dataclass(frozen=True)
class TrialSetup:
    """Everything a trial needs besides its sampled config (picklable; passed by with_parameters)."""

    study: StudyConfig
    ipc: int
    data_root: str
    use_gpu: bool
    threads: int = 1
    experts_dir: str = ""  # expert-trajectory cache (trajectory matching); "" = none
    compute_experts: bool = False  # trials only read experts; the study's expert stage trains them
    # Testing hook for fault tolerance (env DD_TUNE_FAULT_AFTER_REPORTS on the driver): comma-separated
    # rules "N[:key=value][:always]"; see fault_rules. "" = off.
    fault: str = ""

    def should_fault(self, config: Mapping[str, Any], reports: int, restored: bool) -> bool:
        return any(reports == after and (not key or str(config.get(key)) == value) and (always or not restored)
                   for after, key, value, always in fault_rules(self.fault))

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if self.use_gpu and torch.cuda.is_available() else "cpu")

    def data(self, with_test: bool = False) -> Any:
        """The study's dataset on this worker's device (loaded once per process)."""
        study = self.study
        return load_data(study.dataset, Path(self.data_root), study.data.val_fraction, study.data.split_seed,
                         with_test=with_test, device=self.device,
                         max_train_per_class=study.data.max_train_per_class)


@functools.lru_cache(maxsize=8)
def fault_rules(spec: str) -> tuple[tuple[int, str, str, bool], ...]:
    """Parse the fault-injection hook: each rule ``N[:key=value][:always]`` makes a trial (every trial, or
    those whose sampled ``key`` equals ``value``) raise right after its N-th checkpointed report, on its
    first attempt only (a retry from the checkpoint then succeeds) or, with ``always``, on every attempt
    (the trial keeps failing). Returns ``(N, key, value, always)`` tuples (parsed once per spec)."""
    rules = []
    for rule in filter(None, (r.strip() for r in spec.split(","))):
        after, *rest = rule.split(":")
        always = rest[-1:] == ["always"]
        cond = rest[:-1] if always else rest
        key, sep, value = (cond[0] if cond else "").partition("=")
        if not after.isdigit() or int(after) < 1 or len(cond) > 1 or (cond and not (key and sep)):
            raise ConfigError(f"DD_TUNE_FAULT_AFTER_REPORTS: bad rule {rule!r}; expected N[:key=value][:always] "
                              f"with N >= 1, rules separated by commas")
        rules.append((int(after), key, value, always))
    return tuple(rules)


def trial_seed(study_seed: int, trial_index: int, stream: int) -> int:
    """Seed for one random stream of one trial: (study seed, trial, stream) -> 63-bit int."""
    return (study_seed * 1_000_003 + trial_index * 7919 + stream * 104_729) % (2**63 - 1)


def make_distiller(setup: TrialSetup, config: Mapping[str, Any], trial_index: int) -> tuple[Distiller, Any]:
    """Build the trial's distiller (data loaded once per process, kept on the device)."""
    study = setup.study
    ipc = int(config.get("ipc", setup.ipc))
    cfg = with_method_values(study, {k: v for k, v in config.items() if k != "ipc"}, "trial config")
    data = setup.data()
    gen = torch.Generator(setup.device).manual_seed(trial_seed(study.seed, trial_index, 0))
    model = model_spec_for(study.model.name, data.spec, study.model)
    ctx = DistillContext(data.train, data.spec, model, ipc, gen, data.spec.dsa_strategy,
                         experts=expert_store(setup, data, model))
    return build_distiller(study.method, cfg, ctx), data


def expert_store(setup: TrialSetup, data: Any, model: Any) -> Any:
    """The trial's view of the expert cache (None when the study has no expert directory)."""
    from dd_tune.experts import ExpertCache, ExpertStore

    if not setup.experts_dir:
        return None
    study = setup.study
    return ExpertStore(ExpertCache(Path(setup.experts_dir)), data.train, study.dataset,
                       study.data.val_fraction, study.data.split_seed, model, data.spec.dsa_strategy,
                       compute_missing=setup.compute_experts, max_train_per_class=study.data.max_train_per_class)


Report = Callable[[dict[str, float], dict[str, Any], SynSet], None]


def run_trial(
    config: Mapping[str, Any],
    setup: TrialSetup,
    trial_index: int,
    report: Report,
    restore: dict[str, Any] | None = None,
) -> None:
    """Distil in chunks of ``search.report_every`` iterations, proxy-evaluate, report.

    ``report(metrics, state, synset)`` receives the metrics (always with ``val_acc`` and ``it``), the
    resumable state and the current synthetic set. A trial diverges when its learned state (images,
    labels, step size) becomes non-finite or when no iteration of a report interval had a finite loss;
    it then ends with ``val_acc = 0`` and ``diverged = 1``: a bad configuration is a result, not a
    crash. A single non-finite step that the method skips (PAD) is counted, not fatal.
    """
    torch.set_num_threads(max(1, setup.threads))
    distiller, data = make_distiller(setup, config, trial_index)
    device = data.train.device
    eval_gen = torch.Generator(device).manual_seed(trial_seed(setup.study.seed, trial_index, 1))
    if restore is not None:
        distiller.load_state_dict(restore["distiller"])
        eval_gen.set_state(restore["eval_generator"])
    resumed_from = distiller.iteration  # 0 for a fresh trial; the checkpoint's iteration on a retry
    total = distiller.total_iterations
    last = (restore or {}).get("metrics")
    if last is not None and (last["diverged"] or distiller.iteration >= total):
        # restored from its final checkpoint (the driver died before it recorded the end): report
        # the same result again instead of re-evaluating with a moved evaluation generator
        report({**last, "resumed_from": resumed_from}, restore, distiller.synset())
        return
    every = max(1, setup.study.search.report_every)
    t_start = time.time()
    while True:
        t0 = time.time()
        metrics = distiller.run(every)
        distill_s = time.time() - t0
        loss = metrics.get("loss", 0.0)
        # Divergence rule: the learned state became non-finite (nothing can recover it) or no iteration
        # of this report interval had a finite loss. A method that skips a bad update (PAD) goes on.
        diverged = not math.isfinite(loss) or not distiller.state_is_finite()
        synset = distiller.synset()
        t0 = time.time()
        if diverged:
            acc, acc_std = 0.0, 0.0
        else:
            res = evaluate_synset(synset, setup.study.proxy_eval, data.val, eval_gen, setup.study.model)
            arch = res[setup.study.proxy_eval.archs[0]]
            acc, acc_std = arch.mean, arch.std
            diverged = not math.isfinite(acc)
            acc = 0.0 if diverged else acc
        out = {METRIC: acc, "val_acc_std": acc_std, "loss": loss, "it": distiller.iteration,
               "ipc": distiller.ctx.ipc, IMAGES: distiller.ctx.ipc * distiller.ctx.num_classes,
               "distill_s": distill_s, "eval_s": time.time() - t0,
               "elapsed_s": time.time() - t_start, "diverged": int(diverged), "resumed_from": resumed_from,
               "nonfinite_steps": metrics.get("nonfinite_steps", 0.0), **distiller.counters()}
        state = {"distiller": distiller.state_dict(), "eval_generator": eval_gen.get_state(), "metrics": out}
        report(out, state, synset)
        if diverged or distiller.iteration >= total:
            return


def config_index(config: Mapping[str, Any]) -> int:
    """A stable number for a trial config (Ray's trial ids are random per run).

    Seeding trials by (study seed, config) makes a re-run of a study reproduce every trial, and two
    trials with the same sampled config produce the same result.
    """
    text = json.dumps({k: config[k] for k in sorted(config)}, sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class InjectedFault(RuntimeError):
    """Raised by the fault-tolerance testing hook (:attr:`TrialSetup.fault_after_reports`)."""


def dd_trainable(config: dict[str, Any], setup: TrialSetup) -> None:
    """Ray Tune entry point (wrap with ``tune.with_parameters(dd_trainable, setup=...)``)."""
    import ray
    from ray import tune
    from torch.utils.tensorboard import SummaryWriter

    index = config_index(config)
    restore = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            restore = torch.load(os.path.join(d, "state.pt"), map_location="cpu", weights_only=True)
    # Files in the cwd reach <storage>/<experiment>/<trial>/ through SyncConfig(sync_artifacts=True),
    # also from worker nodes; Ray's own TBX logger writes the scalars and HParams next to them.
    writer = SummaryWriter(os.path.join(os.getcwd(), "tb"))
    node_id = ray.get_runtime_context().get_node_id()  # the report shows where each trial ran
    reports = 0

    def report(metrics: dict[str, float], state: dict[str, Any], synset: SynSet) -> None:
        nonlocal reports
        writer.add_image("synset/grid", synset.grid(), metrics["it"])
        writer.flush()
        with tempfile.TemporaryDirectory() as d:
            torch.save(state, os.path.join(d, "state.pt"))
            synset.save(os.path.join(d, "synset.pt"))
            tune.report({**metrics, "node_id": node_id}, checkpoint=tune.Checkpoint.from_directory(d))
        reports += 1
        if setup.should_fault(config, reports, restore is not None):
            raise InjectedFault(f"injected fault after report {reports} (DD_TUNE_FAULT_AFTER_REPORTS)")

    try:
        run_trial(config, setup, index, report, restore)
    finally:
        writer.close()
