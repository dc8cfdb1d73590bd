"""The one interface every distillation method implements, plus the work they share.

A :class:`Distiller` owns the synthetic set and advances it with ``step()``; trainables, the
``distill`` command and the benchmarks drive every method the same way. The pieces the pixel-learning
methods share (DM, DataDAM) live in :mod:`dd_tune.methods.pixel`, initialisations in
:mod:`dd_tune.methods.selection`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

import torch

from dd_tune.base.errors import ConfigError
from dd_tune.base.keys import LOSS, NONFINITE_STEPS
from dd_tune.base.registry import Registry
from dd_tune.core.augment import DSA
from dd_tune.core.datasets import DatasetSpec
from dd_tune.core.models import ModelSpec
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.synset import SynSet


@dataclass
class DistillContext:
    """What a distiller needs besides its own config: data, network spec, IPC, randomness, device."""

    data: ClassIndexedData  # the training split (validation carved out), on ``device``
    dataset: DatasetSpec
    model: ModelSpec
    ipc: int
    generator: torch.Generator  # on ``device``; every random draw of the trial comes from it
    dsa_strategy: str
    # Expert trajectories for trajectory matching: ExpertConfig -> list of [epochs + 1, P] tensors.
    experts: Callable[[Any], list[torch.Tensor]] | None = None
    seed: int = 0  # the study seed: draws every trial shares (class-centre selection)
    zca: bool = False  # ``data`` is ZCA-whitened (data.zca): the set says so, for its evaluation and pictures

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def dsa(self, enabled: bool, strategy: str = "") -> DSA | None:
        """DSA with ``strategy`` (a searchable subset of operations), or the dataset's; None when off."""
        return DSA(strategy or self.dsa_strategy, self.dataset.size) if enabled else None


class Distiller(ABC):
    """Base class: ``step() -> metrics``, ``synset()``, ``state_dict()/load_state_dict()``."""

    # lines every report of this method carries (e.g. where its evaluation differs from the authors')
    report_notes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, ctx: DistillContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.iteration = 0

    @property
    def total_iterations(self) -> int:
        return int(getattr(self.cfg, "iterations", 0))

    @abstractmethod
    def step(self) -> dict[str, float]:
        """One distillation iteration; returns scalar metrics (at least ``loss``)."""

    @abstractmethod
    def synset(self) -> SynSet:
        """The current synthetic set (detached copy)."""

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "generator": self.ctx.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.ctx.generator.set_state(state["generator"])

    def counters(self) -> dict[str, float]:
        """Cumulative counts a method wants in every report (e.g. PAD's skipped updates)."""
        return {}

    def state_is_finite(self) -> bool:
        """False once the learned state holds NaN/inf: the method cannot recover from that."""
        return bool(torch.isfinite(self.synset().images).all())

    def run(self, n: int, callback: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
        """Run ``n`` more iterations (capped at the budget); returns the mean of each metric over the
        iterations where it was finite, ``loss`` NaN when no iteration had a finite loss, and
        ``nonfinite_steps`` (iterations with a non-finite loss)."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        nonfinite = 0
        steps = min(n, self.total_iterations - self.iteration)
        for _ in range(steps):
            metrics = self.step()
            self.iteration += 1
            nonfinite += int(not math.isfinite(metrics.get(LOSS, 0.0)))
            for k, v in metrics.items():
                if math.isfinite(v):
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
            if callback is not None:
                callback(self.iteration, metrics)
        if not steps:
            return {}
        out = {k: v / counts[k] for k, v in sums.items()}
        out.setdefault(LOSS, float("nan"))
        out[NONFINITE_STEPS] = float(nonfinite)
        return out

    @classmethod
    def config_notes(cls, cfg: Any, ipc: int) -> list[str]:
        """Lines the report prints about a configuration at ``ipc`` (e.g. PAD's window vs schedule)."""
        return []

    @classmethod
    def flops(cls, cfg: Any, fwd: int, num_classes: int, ipc: int) -> int:
        """Multiply-adds of a whole distillation run (``fwd``: one forward of one image); each method
        counts its own passes. The base has no learning, hence 0."""
        return 0

    @classmethod
    def budget_free(cls, cfg: Any) -> bool:
        """True when nothing in a run depends on its budget (``iterations``): then a run of n iterations
        is the first n iterations of any longer run with the same configuration and seed, and shorter
        budgets can be read off one long run. False unless a method says so."""
        return False


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config_cls: type
    distiller_cls: type[Distiller]


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, config_cls: type) -> Callable[[type[Distiller]], type[Distiller]]:
    def deco(cls: type[Distiller]) -> type[Distiller]:
        METHODS.add(name, MethodSpec(name, config_cls, cls))
        return cls

    return deco


def build_distiller(method: str, cfg: Any, ctx: DistillContext) -> Distiller:
    return METHODS.get(method).distiller_cls(cfg, ctx)


def budget_free(method: str, cfg: Any) -> bool:
    """See :meth:`Distiller.budget_free`."""
    return METHODS.get(method).distiller_cls.budget_free(cfg)


def init_of(cfg: Any) -> str | None:
    """How a method configuration initialises its set ("real", "noise", ...), or None if it has no choice."""
    return getattr(cfg, "init", None)


def expert_pool(cfg: Any) -> Any:
    """The expert trajectories a configuration matches (an ``ExpertConfig``), or None (no experts)."""
    return getattr(cfg, "experts", None)


# ---- shared pieces ------------------------------------------------------------------------------
def class_labels(num_classes: int, per_class: int, device: torch.device) -> torch.Tensor:
    """``[0]*k + [1]*k + ...``: synthetic sets are stored grouped by class."""
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


def init_images(ctx: DistillContext, init: Literal["real", "noise"]) -> torch.Tensor:
    """IPC random real images per class, or N(0, 1) noise in normalised pixel space (DM's options)."""
    n = ctx.num_classes * ctx.ipc
    if init == "noise":
        shape = (n, ctx.dataset.channels, *ctx.dataset.size)
        return torch.randn(shape, generator=ctx.generator, device=ctx.generator.device).to(ctx.device)
    if ctx.ipc > int(ctx.data.counts.min()):
        raise ConfigError(
            f"ipc {ctx.ipc} exceeds the smallest class of the training split "
            f"({int(ctx.data.counts.min())} images)"
        )
    idx = ctx.data.sample_per_class(ctx.ipc, ctx.generator)
    return ctx.data.images[idx.flatten()].clone()
