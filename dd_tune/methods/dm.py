"""Distribution Matching (Zhao & Bilen, WACV 2023), docs/methods.md §2 — batched over classes.

Each iteration: a fresh random ConvNet (frozen, train mode); per class a real batch and all IPC
synthetic images, siamese-augmented per class; loss = sum over classes of the squared L2 distance
between class-mean embeddings (real branch detached); one SGD step on the pixels.

The reference loops over classes with one forward pass each; here all classes go through one forward
for the real images (no autograd) and one for the synthetic images. With instance norm this is
numerically the same loss (per-sample normalisation); with batch norm it is what the reference does
anyway (it concatenates classes for BN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from dd_tune.methods.base import (DistillContext, FreshNetwork, PixelDistiller, class_batches,
                                  no_grad_chunked, register_method, validate_pixel_config)


@dataclass(frozen=True)
class DMConfig:
    """Reference defaults of ``main_DM.py`` (docs/methods.md §2.2), except DSA without flip on digits."""

    iterations: int = 20000
    lr_img: float = 1.0  # 1 for IPC <= 50, 10 above (DM README)
    momentum_img: float = 0.5
    batch_real: int = 256  # real images per class per iteration
    init: Literal["real", "noise"] = "real"
    dsa: bool = True
    real_chunk: int = 0  # real-batch chunk for the no-grad forward; 0 = auto (see no_grad_chunked)

    def __post_init__(self) -> None:
        validate_pixel_config(self)


def class_mean_distance(real_emb: torch.Tensor, syn_emb: torch.Tensor, num_classes: int) -> torch.Tensor:
    """sum_c || mean(real_c) - mean(syn_c) ||^2 for embeddings grouped by class in equal blocks."""
    mr = real_emb.view(num_classes, -1, real_emb.shape[-1]).mean(1)
    ms = syn_emb.view(num_classes, -1, syn_emb.shape[-1]).mean(1)
    return ((mr - ms) ** 2).sum()


@register_method("dm", DMConfig)
class DMDistiller(PixelDistiller):
    method_name = "dm"

    def __init__(self, cfg: DMConfig, ctx: DistillContext) -> None:
        super().__init__(cfg, ctx)
        self.fresh = FreshNetwork(ctx.model, ctx.generator, ctx.device)
        self.dsa = ctx.dsa(cfg.dsa)

    def step(self) -> dict[str, float]:
        net = self.fresh()
        real, syn, _ = class_batches(self.ctx, self.images, self.cfg.batch_real, self.dsa)
        real_emb = no_grad_chunked(net, net.embed, real, self.cfg.real_chunk)
        loss = class_mean_distance(real_emb, net.embed(syn), self.ctx.num_classes)
        self.update(loss)
        return {"loss": float(loss.detach())}
