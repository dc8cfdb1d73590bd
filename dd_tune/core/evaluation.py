"""The evaluation: train fresh networks on a synthetic set, test on held-out real data.

Used with different :class:`EvalConfig` s by the trials' proxy evaluation (validation split, few
epochs) and by the final re-evaluation (test set, full epochs, K fresh models per architecture).
Protocol (docs/methods.md, "Evaluation protocol"): SGD momentum 0.9, weight decay 5e-4, lr x0.1 once at
epoch E//2+1 with the optimiser re-created (momentum reset), E+1 epochs, shuffled batches, per-sample DSA
on every batch, accuracy measured once after the last epoch. No early stopping, no checkpoint selection.
``EvalConfig.protocol`` names the schedule and augmentation: dd_tune's own or the authors' (dd_tune.core.protocols).
The command is ``dd_tune.commands.evaluate`` (``python -m dd_tune.evaluate``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from dd_tune.config import EvalConfig, ModelConfig
from dd_tune.core.augment import DSA
from dd_tune.core.datasets import DATASETS, DatasetSpec
from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.protocols import decay_epoch, dsa_strategy
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.synset import SynSet
from dd_tune.core.training import accuracies, accuracy, train


@dataclass
class ArchResult:
    """Accuracies (in %) of K fresh models of one architecture."""

    arch: str
    runs: list[float] = field(default_factory=list)
    seconds: float = 0.0
    balanced: list[float] = field(default_factory=list)  # balanced accuracy (mean per-class recall) per model

    @property
    def mean(self) -> float:
        return statistics.fmean(self.runs) if self.runs else float("nan")

    @property
    def std(self) -> float:
        # sample std (n - 1), as in the reports' intervals (dd_tune.records.stats); DC's code printed numpy's
        # population std, which is smaller for the few models an evaluation trains
        return statistics.stdev(self.runs) if len(self.runs) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "runs": list(self.runs), "seconds": self.seconds,
                "balanced": list(self.balanced)}


def model_spec_for(arch: str, dataset: DatasetSpec, model: ModelConfig = ModelConfig()) -> ModelSpec:
    """ConvNet takes the study's width/depth/norm/pooling; LeNet is fixed."""
    return ModelSpec(name=arch, channels=dataset.channels, num_classes=dataset.num_classes,
                     size=dataset.size, width=model.width, depth=model.depth, norm=model.norm,
                     pooling=model.pooling)


def train_on_synset(net: torch.nn.Module, synset: SynSet, cfg: EvalConfig, generator: torch.Generator,
                    lr: float, dsa: DSA | None) -> float:
    """Train ``net`` in place on ``synset`` (decoded: its ``training_set``) with the protocol ``cfg``; the
    last epoch's mean loss."""
    images, labels = synset.training_set()
    return train(net, images, labels, epochs=cfg.epochs, lr=lr, momentum=cfg.momentum,
                 weight_decay=cfg.weight_decay, batch_size=cfg.batch_size, generator=generator, dsa=dsa,
                 decay_epoch=decay_epoch(cfg.protocol, cfg.epochs))


def protocol_dsa(cfg: EvalConfig, spec: DatasetSpec) -> DSA | None:
    """The augmentation of an evaluation with ``cfg`` on ``spec``'s images (None: off)."""
    return DSA(dsa_strategy(cfg.protocol, spec), spec.size) if cfg.dsa else None


def evaluate_synset(
    synset: SynSet,
    cfg: EvalConfig,
    heldout: ClassIndexedData,
    generator: torch.Generator,
    model: ModelConfig = ModelConfig(),
    use_learned_lr: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ArchResult]:
    """Train ``cfg.models`` fresh networks per architecture in ``cfg.archs`` and test each once.

    ``heldout`` is the validation split for proxy evaluation and the test split only for the final
    re-evaluation. A learned step size (PAD) replaces ``cfg.lr`` when ``use_learned_lr``.
    """
    spec = DATASETS.get(synset.dataset)
    dsa = protocol_dsa(cfg, spec)
    lr = synset.lr if (use_learned_lr and synset.lr is not None) else cfg.lr
    device = heldout.device
    results: dict[str, ArchResult] = {}
    for arch in cfg.archs:
        res = ArchResult(arch)
        t0 = time.time()
        for k in range(cfg.models):
            net = build_model(model_spec_for(arch, spec, model), generator, device)
            loss = train_on_synset(net, synset, cfg, generator, lr, dsa)
            acc, balanced = accuracies(net, heldout, cfg.max_eval_images)
            if not torch.isfinite(torch.tensor(loss)):
                acc = balanced = float("nan")
            res.runs.append(acc)
            res.balanced.append(balanced)
            if progress is not None:
                progress(f"{arch} model {k + 1}/{cfg.models}: {acc:.2f}% ({time.time() - t0:.0f} s)")
        res.seconds = time.time() - t0
        results[arch] = res
    return results


def full_data_accuracy(train_data: ClassIndexedData, test: ClassIndexedData, dataset: str, cfg: EvalConfig,
                       epochs: int, generator: torch.Generator, model: ModelConfig = ModelConfig(),
                       progress: Callable[[str], None] | None = None) -> float:
    """Test accuracy (%) of one fresh ConvNet trained on the whole training split (the reference every
    distilled set is measured against) with the protocol's optimiser, schedule and augmentation for
    ``epochs`` (+1, as the protocol) epochs."""
    spec = DATASETS.get(dataset)
    dsa = protocol_dsa(cfg, spec)
    net = build_model(model_spec_for("convnet", spec, model), generator, train_data.device)
    t0 = time.time()
    train(net, train_data.images, train_data.labels, epochs=epochs, lr=cfg.lr, momentum=cfg.momentum,
          weight_decay=cfg.weight_decay, batch_size=cfg.batch_size, generator=generator, dsa=dsa,
          decay_epoch=decay_epoch(cfg.protocol, epochs))
    acc = accuracy(net, test)
    if progress is not None:
        progress(f"full data: ConvNet {acc:.2f}% after {epochs + 1} epochs on {len(train_data)} images "
                 f"({time.time() - t0:.0f} s)")
    return acc
