"""PAD's trajectory-matching loss with parameter selection (docs/methods.md §4.3).

With e_j = (theta_N - theta*_{t+M})_j^2 and d_j = (theta_t - theta*_{t+M})_j^2 over the flattened
parameter vector (layer order), the loss is sum_{j in K} e_j / sum_{j in K} d_j where K keeps

* ``depth`` mode (PAD_depth.py, "deep layers only"): all but the first ``int(ratio * P)`` elements —
  the cut falls inside a layer (0.5 on MNIST ConvNet-3 drops blocks 1-2 and 9 477 conv3 weights);
* ``loss`` mode (PAD_loss.py, shipped as PAD.py): all but the ``int(ratio * P)`` elements with the
  smallest e_j (the already matched ones).

Ratio 0 is MTT's/DATM's normalised loss over all parameters. Numerator and denominator use the same K.
"""

from __future__ import annotations

from typing import Literal

import torch

SelectMode = Literal["depth", "loss"]


def kept_mask(errors: torch.Tensor, ratio: float, mode: SelectMode) -> torch.Tensor:
    """Boolean mask over the flattened parameters of the elements that enter the loss."""
    n = errors.numel()
    drop = int(ratio * n)
    keep = torch.ones(n, dtype=torch.bool, device=errors.device)
    if drop <= 0:
        return keep
    if mode == "depth":
        keep[:drop] = False
    elif mode == "loss":
        keep[torch.argsort(errors.detach(), stable=True)[:drop]] = False
    else:
        raise ValueError(f"unknown parameter selection mode {mode!r}; choose from ['depth', 'loss']")
    return keep


def trajectory_loss(theta_end: torch.Tensor, theta_start: torch.Tensor, theta_target: torch.Tensor,
                    ratio: float = 0.0, mode: SelectMode = "depth") -> torch.Tensor:
    """Normalised parameter distance restricted to the kept parameters (differentiable in theta_end)."""
    e = (theta_end - theta_target) ** 2
    d = (theta_start - theta_target) ** 2
    keep = kept_mask(e, ratio, mode)
    return e[keep].sum() / d[keep].sum()


class FlatModel:
    """Evaluate a module at a flat parameter vector (``torch.func.functional_call``), so an unrolled
    inner loop can take differentiable SGD steps theta <- theta - alpha * grad without rewriting
    layers (the MTT reference re-implements a "reparametrised" ConvNet for this)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net
        self.names = [n for n, _ in net.named_parameters()]
        self.shapes = [p.shape for _, p in net.named_parameters()]
        self.numels = [p.numel() for _, p in net.named_parameters()]

    @property
    def size(self) -> int:
        return sum(self.numels)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: chunk.view(s) for n, chunk, s in zip(self.names, flat.split(self.numels), self.shapes)}

    def __call__(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(self.net, self.unflatten(flat), (x,))
        return out
