"""Straightforward per-class loops as in the upstream reference code.

Not used by the product. They exist so tests can check that the batched implementations compute the
same loss, and so ``bench/`` can time them against each other in one process.
"""

from __future__ import annotations

import torch
from torch import nn

from dd_tune.core.augment import DSA, AugParams


def _class_pairs(real: torch.Tensor, syn: torch.Tensor, num_classes: int, dsa: DSA | None,
                 params: AugParams | None):
    """Yield each class's (real, synthetic) images, augmented with that class's siamese draw."""
    b = real.shape[0] // num_classes
    ipc = syn.shape[0] // num_classes
    for c in range(num_classes):
        img_real = real[c * b : (c + 1) * b]
        img_syn = syn[c * ipc : (c + 1) * ipc]
        if dsa is not None and params is not None:
            one = params.take(torch.tensor([c]))
            img_real = dsa.apply(img_real, one, torch.zeros(b, dtype=torch.long))
            img_syn = dsa.apply(img_syn, one, torch.zeros(ipc, dtype=torch.long))
        # the reference's DiffAugment ends in .contiguous() and its networks .view() the features, so
        # it runs in the standard layout; a 1-channel batch would otherwise keep whichever layout the
        # augmentation left (channels-last after a crop), which changes the reference's speed
        contiguous = torch.contiguous_format
        yield img_real.clone(memory_format=contiguous), img_syn.clone(memory_format=contiguous)


def dm_loss_per_class(
    net: nn.Module,
    real: torch.Tensor,
    syn: torch.Tensor,
    num_classes: int,
    dsa: DSA | None,
    params: AugParams | None,
) -> torch.Tensor:
    """docs/methods.md §2.1 step 2-3 as main_DM.py writes it: one class at a time, two forwards each.

    ``real``/``syn`` are grouped by class in equal blocks; ``params`` holds one siamese draw per class.
    """
    loss = torch.zeros((), device=syn.device)
    for img_real, img_syn in _class_pairs(real, syn, num_classes, dsa, params):
        output_real = net.embed(img_real).detach()
        output_syn = net.embed(img_syn)
        loss = loss + torch.sum((torch.mean(output_real, dim=0) - torch.mean(output_syn, dim=0)) ** 2)
    return loss


def datadam_loss_released(
    net: nn.Module,
    real: torch.Tensor,
    syn: torch.Tensor,
    num_classes: int,
    dsa: DSA | None,
    params: AugParams | None,
    power: int,
    lambda_mmd: float,
    loss_scale: float,
) -> torch.Tensor:
    """DataDAM's loss (docs/methods.md §3.1) as the released ``main_DataDAM.py`` computes it.

    The released loop samples and augments one class at a time, then concatenates all classes and
    runs ONE forward for the real images and one for the synthetic ones (so batch-norm statistics see
    every class), takes the attention of each ReLU output and matches per-class means (``MSE_B``).
    Unlike the released code it reads the maps from ``feature_maps`` rather than forward hooks that
    clone every activation: the same numbers, less work, so a timing against it is not flattered.
    """
    pairs = list(_class_pairs(real, syn, num_classes, dsa, params))
    real_all = torch.cat([r for r, _ in pairs])
    syn_all = torch.cat([s for _, s in pairs])

    def attention(fmap: torch.Tensor) -> torch.Tensor:
        am = torch.sum(torch.abs(fmap) ** power, dim=1).view(fmap.size(0), -1)
        return am / am.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def mse_b(r: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        r_mean = r.reshape(num_classes, -1, r.shape[-1]).mean(1)
        s_mean = s.reshape(num_classes, -1, s.shape[-1]).mean(1)
        return torch.sum((r_mean - s_mean) ** 2)

    with torch.no_grad():
        maps_real, emb_real = net.feature_maps(real_all)
    maps_syn, emb_syn = net.feature_maps(syn_all)
    loss = torch.zeros((), device=syn.device)
    for fr, fs in zip(maps_real[:-1], maps_syn[:-1]):
        loss = loss + loss_scale * mse_b(attention(fr), attention(fs))
    return loss + loss_scale * lambda_mmd * mse_b(emb_real, emb_syn)
