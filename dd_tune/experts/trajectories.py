"""Expert trajectories for trajectory matching (PAD/DATM/MTT), docs/methods.md §4.2.

An expert is a fresh ConvNet trained on real data with SGD (lr 0.01, no momentum, no weight decay) or
GSAM around it, per-sample DSA on every batch and, for PAD, the data scheduler over
difficulty-ordered class rows; its flattened parameters are stored after initialisation and after
every epoch, a ``[epochs + 1, P]`` tensor in layer order.

Trajectories are an artifact, not part of a trial: :class:`ExpertCache` content-addresses them by
everything that changes them and computes each at most once, also when several processes ask for the
same expert at the same time (a file lock per expert, atomic rename on write).

``optimizer: gsam`` trains them as FTD, DATM and PAD do (:mod:`dd_tune.core.gsam`, two gradient
evaluations per step); ``sgd`` is MTT's plain SGD.
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import torch

from dd_tune.base import seeds
from dd_tune.base.atomic import atomic_torch_save
from dd_tune.base.errors import DataError
from dd_tune.base.hashing import content_key
from dd_tune.config import require, to_dict
from dd_tune.core.augment import DSA
from dd_tune.core.gsam import GSAM, GSAMConfig
from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.training import run_epoch
from dd_tune.experts.difficulty import DifficultyConfig, difficulty_scores, easy_to_hard
from dd_tune.experts.schedule import ScheduleConfig, epoch_indices, keep_range


@dataclass(frozen=True)
class ExpertConfig:
    num_experts: int = 100  # PAD/DATM buffers
    epochs: int = 100  # >= max_start_epoch + expert_epochs (mtt #4, DATM #15)
    lr: float = 0.01  # lr_teacher
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 256
    # MTT's plain SGD (the default here); FTD/DATM/PAD wrap it in GSAM (their presets say gsam)
    optimizer: Literal["sgd", "gsam"] = "sgd"
    gsam: GSAMConfig = field(default_factory=GSAMConfig)
    dsa: bool = True
    seed: int = 0  # experts are shared across studies and trials: their own seed, part of the key
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)

    def __post_init__(self) -> None:
        require(self.num_experts >= 1, "num_experts", f"must be >= 1, got {self.num_experts}")
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(0 <= self.seed < 2**32, "seed", f"must be in [0, 2^32), got {self.seed}")


def flat_params(net: torch.nn.Module) -> torch.Tensor:
    """All parameters as one vector in registration order (conv1.w, conv1.b, norm1.w, ..., fc.b)."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def expert_optimizer(net: torch.nn.Module, cfg: ExpertConfig) -> torch.optim.Optimizer:
    """SGD with the expert's settings, wrapped in GSAM when ``cfg.optimizer`` is ``gsam``."""
    sgd = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return GSAM(list(net.parameters()), sgd, cfg.gsam, net) if cfg.optimizer == "gsam" else sgd


def train_expert(
    data: ClassIndexedData,
    model: ModelSpec,
    cfg: ExpertConfig,
    generator: torch.Generator,
    dsa_strategy: str,
    order: list[torch.Tensor] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """One expert trajectory ``[epochs + 1, P]``; ``order`` = per-class easy -> hard rows (scheduler)."""
    device = data.device
    net = build_model(model, generator, device)
    net.train()
    dsa = DSA(dsa_strategy, model.size) if cfg.dsa else None
    opt = expert_optimizer(net, cfg)
    everything = torch.arange(len(data), device=device)
    trajectory = [flat_params(net).cpu()]
    for epoch in range(cfg.epochs):
        use = epoch_indices(order, epoch, cfg.schedule) if (order is not None and cfg.schedule.enabled) \
            else everything
        use = use.to(device)
        perm = use[torch.randperm(len(use), generator=generator, device=generator.device).to(device)]
        loss = run_epoch(net, opt, data.images, data.labels, perm, cfg.batch_size, dsa, generator)
        trajectory.append(flat_params(net).cpu())
        if progress is not None:
            progress(epoch + 1, loss)
    return torch.stack(trajectory)


def describe_experts(cfg: ExpertConfig) -> str:
    """One pool's recipe in words, for reports: "100-epoch GSAM experts (rho 0.01, alpha 0.3, adaptive), lr
    0.01, data schedule over GraNd order"."""
    opt = (f"GSAM experts (rho {cfg.gsam.rho:g}, alpha {cfg.gsam.alpha:g}{', adaptive' if cfg.gsam.adaptive else ''})"
           if cfg.optimizer == "gsam" else "SGD experts")
    data = (f"data schedule over {cfg.difficulty.score.upper() if cfg.difficulty.score == 'el2n' else 'GraNd'} order"
            if cfg.schedule.enabled else "all data every epoch")
    return f"{cfg.epochs}-epoch {opt}, lr {cfg.lr:g}, {data}"


def expert_flops(cfg: ExpertConfig, fwd: int, class_counts: list[int]) -> dict[str, int]:
    """Multiply-adds of one expert pool: ``difficulty`` = scoring (``models`` networks trained for
    ``epochs + 1`` passes over the training split, then one scoring pass; only with the scheduler) and
    ``training`` = ``num_experts`` x the samples the schedule uses in each epoch x (forward + backward
    = 3 forwards; twice that with GSAM, which evaluates the gradient at two points per step)."""
    n = sum(class_counts)
    scoring = 0
    if cfg.schedule.enabled:
        d = cfg.difficulty
        passes = d.epochs + 1 if d.epochs > 0 else 0
        scoring = d.models * (3 * fwd * n * passes + fwd * n)
    used = sum(stop - start for e in range(cfg.epochs)
               for start, stop in (keep_range(c, e, cfg.schedule) for c in class_counts))
    gradients = 2 if cfg.optimizer == "gsam" else 1  # per step: GSAM evaluates two
    return {"difficulty": scoring, "training": cfg.num_experts * 3 * gradients * fwd * used}


def expert_key(dataset: str, val_fraction: float, split_seed: int, model: ModelSpec, cfg: ExpertConfig,
               index: int, max_train_per_class: int = 0, zca: bool = False) -> str:
    """Content address of one expert: every input that changes its trajectory (not num_experts)."""
    experts = to_dict(cfg)
    experts.pop("num_experts")
    if not cfg.schedule.enabled:  # without the scheduler, scores and schedule do not matter
        experts.pop("schedule")
        experts.pop("difficulty")
    if cfg.optimizer != "gsam":  # GSAM's settings do not touch an SGD expert (whose key stays as it was)
        experts.pop("gsam")
    blob = {"dataset": dataset, "val_fraction": val_fraction, "split_seed": split_seed,
            "max_train_per_class": max_train_per_class,
            "model": to_dict(model), "experts": experts, "index": index, "version": 1}
    if zca:  # experts trained on whitened images (keys of unwhitened experts stay those earlier versions wrote)
        blob["zca"] = True
    return content_key(blob)


class ExpertCache:
    """``<root>/<key>.pt`` files, each computed once (flock per key, write-then-rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def has(self, key: str) -> bool:
        return self.path(key).exists()

    def load(self, key: str) -> torch.Tensor:
        loaded: torch.Tensor = torch.load(self.path(key), map_location="cpu", weights_only=True)
        return loaded

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, bool]:
        """(trajectory, computed_now). Concurrent callers of the same key wait for the first one."""
        final = self.path(key)
        if final.exists():
            return self.load(key), False
        with open(self.root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if final.exists():  # another process finished it while we waited
                    return self.load(key), False
                value = compute()
                atomic_torch_save(value, final)
                return value, True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class ExpertStore:
    """Expert trajectories of one (dataset, split, model, seed) from an :class:`ExpertCache`.

    Called with an :class:`ExpertConfig`, returns its ``num_experts`` trajectories. With
    ``compute_missing=False`` (trials) a missing expert is an error — the study trains experts as
    separate tasks before its trials; ``True`` is for the ``distill`` command and for the expert tasks
    themselves. The difficulty scores the scheduler needs are cached the same way.
    """

    def __init__(self, cache: ExpertCache, data: ClassIndexedData, dataset: str, val_fraction: float,
                 split_seed: int, model: ModelSpec, dsa_strategy: str, compute_missing: bool = False,
                 max_train_per_class: int = 0, zca: bool = False) -> None:
        self.cache = cache
        self.data = data
        self.dataset = dataset
        self.split = (val_fraction, split_seed, max_train_per_class)
        self.model = model
        self.dsa_strategy = dsa_strategy
        self.compute_missing = compute_missing
        self.zca = zca

    def key(self, cfg: ExpertConfig, index: int) -> str:
        return expert_key(self.dataset, self.split[0], self.split[1], self.model, cfg, index, self.split[2], self.zca)

    def order(self, cfg: ExpertConfig) -> list[torch.Tensor] | None:
        """Per-class easy -> hard rows from cached difficulty scores (None without the scheduler)."""
        if not cfg.schedule.enabled:
            return None
        blob = {"dataset": self.dataset, "split": self.split, "model": to_dict(self.model),
                "difficulty": to_dict(cfg.difficulty), "seed": cfg.seed, "kind": "scores"}
        if self.zca:
            blob["zca"] = True
        key = "scores-" + content_key(blob)
        gen = seeds.generator(seeds.scores_seed(cfg.seed), self.data.device)
        scores, _ = self.cache.get_or_compute(
            key, lambda: difficulty_scores(self.data, self.model, cfg.difficulty, gen, self.dataset).cpu())
        return easy_to_hard(scores.to(self.data.device), self.data)

    def expert(self, cfg: ExpertConfig, index: int) -> tuple[torch.Tensor, bool]:
        """(trajectory, trained_now) of expert ``index``."""
        key = self.key(cfg, index)
        if not self.compute_missing:
            if not self.cache.has(key):
                raise DataError(f"expert {index} ({key}) is not in {self.cache.root}; experts are trained "
                                f"by the study's expert stage, not inside a trial")
            return self.cache.load(key), False

        def compute() -> torch.Tensor:
            gen = seeds.generator(seeds.expert_seed(cfg.seed, index), self.data.device)
            return train_expert(self.data, self.model, cfg, gen, self.dsa_strategy, self.order(cfg))

        return self.cache.get_or_compute(key, compute)

    def __call__(self, cfg: ExpertConfig) -> list[torch.Tensor]:
        return [self.expert(cfg, i)[0] for i in range(cfg.num_experts)]
