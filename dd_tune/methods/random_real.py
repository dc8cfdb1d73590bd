"""The random-real baseline: IPC real training images per class, drawn at random, nothing learned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dd_tune.config import require
from dd_tune.core.formation import MAX_FACTOR
from dd_tune.core.synset import SynSet
from dd_tune.methods.base import DistillContext, Distiller, class_labels, register_method
from dd_tune.methods.selection import initial_images


@dataclass(frozen=True)
class RandomRealConfig:
    """Nothing learned; ``iterations`` stays 0 so the trainable evaluates it once. ``factor`` > 1 is the
    multi-formation baseline: ``factor²`` random real images tiled into each stored image (IDC's ``mix``
    init), decoded like a distilled set at evaluation."""

    iterations: int = 0
    factor: int = 1

    def __post_init__(self) -> None:
        require(1 <= self.factor <= MAX_FACTOR, "factor", f"must be in [1, {MAX_FACTOR}], got {self.factor}")


@register_method("random_real", RandomRealConfig)
class RandomRealDistiller(Distiller):
    def __init__(self, cfg: RandomRealConfig, ctx: DistillContext) -> None:
        super().__init__(cfg, ctx)
        self.images = initial_images(ctx, "real", cfg.factor)
        self.labels = class_labels(ctx.num_classes, ctx.ipc, ctx.device)

    @property
    def total_iterations(self) -> int:
        return 0

    def step(self) -> dict[str, float]:
        return {}

    def synset(self) -> SynSet:
        return SynSet(self.images.cpu().clone(), self.labels.cpu().clone(), self.ctx.dataset.name,
                      self.ctx.ipc, "random_real", factor=self.cfg.factor, zca=self.ctx.zca)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "images": self.images.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.images = state["images"].to(self.ctx.device)
