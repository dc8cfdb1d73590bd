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

import torch

from dd_tune.base.keys import LOSS
from dd_tune.methods.base import DistillContext, register_method
from dd_tune.methods.pixel import PixelConfig, PixelDistiller, class_batches, no_grad_chunked


@dataclass(frozen=True)
class DMConfig(PixelConfig):
    """Reference defaults of ``main_DM.py`` (docs/methods.md §2.2: 20 000 iterations, lr_img 1 — 10 above
    IPC 50 in the DM README —, momentum 0.5, 256 real images per class, init real), except DSA without
    flip on digits; every design-space lever of :class:`PixelConfig` off."""


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

    def step(self) -> dict[str, float]:
        net = self.fresh()
        real, syn, _ = class_batches(self.ctx, self.training_images(), self.cfg.batch_real, self.dsa)
        real_emb = no_grad_chunked(net, net.embed, real, self.cfg.real_chunk)
        loss = class_mean_distance(real_emb, net.embed(syn), self.ctx.num_classes)
        self.update(loss)
        return {LOSS: float(loss.detach())}
