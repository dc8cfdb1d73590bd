"""What a trial, an expert task or a re-evaluation task needs besides its own config (picklable), and
the distiller it builds from it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from dd_tune.base import seeds
from dd_tune.base.allocator import steady_allocator
from dd_tune.base.exit_notice import quiet_exit_on_sigterm
from dd_tune.config import StudyConfig
from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.splits import load_data, load_test
from dd_tune.core.zca import Whitening, dataset_whitening
from dd_tune.experts import ExpertCache, ExpertStore
from dd_tune.methods import DistillContext, Distiller, build_distiller
from dd_tune.methods.configs import with_method_values
from dd_tune.search.faults import delay_rules, fault_rules
from dd_tune.search.placement import Placement, job_device, placement


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
    # Testing hook for node deaths (env DD_TUNE_TASK_DELAY on the driver): "kind=seconds" pairs; see
    # delay_rules. "" = off.
    delay: str = ""
    tensorboard: bool = True  # the trial writes its image grids for TensorBoard (off in the overhead probe)

    def pause(self, kind: str) -> None:
        """Sleep as the node-death testing hook asks for jobs of ``kind`` (no-op when it is off)."""
        seconds = delay_rules(self.delay).get(kind, 0.0) if self.delay else 0.0
        if seconds:
            time.sleep(seconds)

    def should_fault(self, config: Mapping[str, Any], reports: int, restored: bool) -> bool:
        return any(reports == after and (not key or str(config.get(key)) == value) and (always or not restored)
                   for after, key, value, always in fault_rules(self.fault))

    @property
    def device(self) -> torch.device:
        """This job's device: in a Ray worker what Ray granted (a GPU share without CUDA fails, naming the
        node, unless the study declares its GPUs simulated); elsewhere CUDA where asked and present."""
        return job_device(self.use_gpu, self.study.resources.simulated_gpus)

    def placement(self) -> Placement:
        """Where this job runs: node, device, GPU share (recorded by trials, expert tasks, evaluations)."""
        return placement(self.use_gpu, self.study.resources.simulated_gpus)

    def data(self, with_test: bool = False) -> Any:
        """The study's dataset on this worker's device (loaded once per process).

        Every task of a study (trial, expert, distillation, re-evaluation) starts here, so this is
        also where the worker process gets fixed malloc thresholds (:mod:`dd_tune.base.allocator`) and
        exits without a notice when Ray stops it (:mod:`dd_tune.base.exit_notice`).
        """
        steady_allocator()
        quiet_exit_on_sigterm()
        study = self.study
        return load_data(study.dataset, Path(self.data_root), study.data.val_fraction, study.data.split_seed,
                         with_test=with_test, device=self.device,
                         max_train_per_class=study.data.max_train_per_class, zca=study.data.zca,
                         zca_dir=self._zca_dir)

    def whitening(self) -> Whitening | None:
        """The dataset's ZCA transform when the study whitens (data.zca), else None; from the cache beside
        the experts, without loading the training split onto the device."""
        if not self.study.data.zca:
            return None
        return dataset_whitening(DATASETS.get(self.study.dataset), Path(self.data_root), self._zca_dir)

    @property
    def _zca_dir(self) -> Path | None:
        """The transform's cache: beside the experts (None: fitted in this process only)."""
        return Path(self.experts_dir) if self.experts_dir else None

    def test(self) -> Any:
        """The test split, prepared as the training split is (normalised, or whitened with its transform):
        a test job loads no training data."""
        return load_test(self.study.dataset, Path(self.data_root), self.device, self.whitening())


def make_distiller(setup: TrialSetup, config: Mapping[str, Any], trial_index: int) -> tuple[Distiller, Any]:
    """Build the trial's distiller (data loaded once per process, kept on the device)."""
    study = setup.study
    ipc = int(config.get("ipc", setup.ipc))
    cfg = with_method_values(study, {k: v for k, v in config.items() if k != "ipc"}, "trial config")
    data = setup.data()
    gen = seeds.generator(seeds.trial_seed(study.seed, trial_index, seeds.TRIAL_DISTILL), setup.device)
    model = model_spec_for(study.model.name, data.spec, study.model)
    ctx = DistillContext(data.train, data.spec, model, ipc, gen, data.spec.dsa_strategy,
                         experts=expert_store(setup, data, model), seed=study.seed, zca=study.data.zca)
    return build_distiller(study.method, cfg, ctx), data


def expert_store(setup: TrialSetup, data: Any, model: Any) -> Any:
    """The trial's view of the expert cache (None when the study has no expert directory)."""
    if not setup.experts_dir:
        return None
    study = setup.study
    return ExpertStore(ExpertCache(Path(setup.experts_dir)), data.train, study.dataset,
                       study.data.val_fraction, study.data.split_seed, model, data.spec.dsa_strategy,
                       compute_missing=setup.compute_experts, max_train_per_class=study.data.max_train_per_class,
                       zca=study.data.zca)
