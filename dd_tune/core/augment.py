"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen 2021), docs/methods.md §1.3.

Faithful to ``DiffAugment`` in single mode ('S'): each call picks one operation uniformly from the
strategy string ("color" = brightness, saturation and contrast together) and applies only it.

Two ways of drawing parameters, both from an explicit ``torch.Generator`` (the reference re-seeds the
global RNG instead):

* **per-sample** (network training, evaluation): one operation for the call, parameters per sample.
* **siamese groups** (DM, DataDAM): every group (= class) draws its own operation and parameters, and
  all members of the group — real *and* synthetic images of that class — share them. Applying the
  same :class:`AugParams` to the real and the synthetic batch is the siamese pairing, and doing it for
  all classes at once replaces the reference's per-class loop of seeded calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dd_tune.base.errors import ConfigError

ALL_OPS = ("color", "crop", "cutout", "flip", "scale", "rotate")


@dataclass(frozen=True)
class DSAMagnitudes:
    """``ParamDiffAug`` defaults from the DC/DSA code."""

    scale: float = 1.2
    rotate: float = 15.0  # degrees
    crop: float = 0.125  # translation as a fraction of the side
    cutout: float = 0.5  # square side as a fraction of the side
    flip: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


@dataclass
class AugParams:
    """Parameters for G groups: the operation index and every operation's parameters, shape [G]."""

    op: torch.Tensor
    brightness: torch.Tensor
    saturation: torch.Tensor
    contrast: torch.Tensor
    tx: torch.Tensor  # crop translation (rows), integer
    ty: torch.Tensor  # crop translation (cols), integer
    cx: torch.Tensor  # cutout centre (rows), integer
    cy: torch.Tensor  # cutout centre (cols), integer
    flip: torch.Tensor
    sx: torch.Tensor
    sy: torch.Tensor
    theta: torch.Tensor  # rotation, radians

    def take(self, index: torch.Tensor) -> "AugParams":
        return AugParams(**{k: v[index] for k, v in self.__dict__.items()})

    def to(self, device: torch.device) -> "AugParams":
        return AugParams(**{k: v.to(device) for k, v in self.__dict__.items()})


def parse_strategy(strategy: str) -> tuple[str, ...]:
    ops = tuple(s for s in strategy.split("_") if s)
    unknown = [o for o in ops if o not in ALL_OPS]
    if not ops or unknown:
        raise ConfigError(
            f"invalid DSA strategy {strategy!r}: unknown operations {unknown}; "
            f"use '_'-separated names from {list(ALL_OPS)}"
        )
    return ops


class DSA:
    """Differentiable siamese augmentation for images of a fixed size."""

    def __init__(self, strategy: str, size: tuple[int, int], mag: DSAMagnitudes = DSAMagnitudes()) -> None:
        self.ops = parse_strategy(strategy)
        self.size = size
        self.mag = mag

    # ---- drawing parameters -------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator, one_op: bool = False) -> AugParams:
        """Parameters for ``n`` groups; ``one_op`` draws a single operation shared by all of them."""
        g, dev = generator, generator.device
        H, W = self.size
        m = self.mag

        def u() -> torch.Tensor:
            return torch.rand(n, generator=g, device=dev)

        n_ops = 1 if one_op else n
        op = torch.randint(0, len(self.ops), (n_ops,), generator=g, device=dev).expand(n)
        shift_x, shift_y = int(H * m.crop + 0.5), int(W * m.crop + 0.5)
        cut_x, cut_y = int(H * m.cutout + 0.5), int(W * m.cutout + 0.5)
        return AugParams(
            op=op.clone(),
            brightness=u(), saturation=u(), contrast=u(),
            tx=torch.randint(-shift_x, shift_x + 1, (n,), generator=g, device=dev),
            ty=torch.randint(-shift_y, shift_y + 1, (n,), generator=g, device=dev),
            cx=torch.randint(0, H + (1 - cut_x % 2), (n,), generator=g, device=dev),
            cy=torch.randint(0, W + (1 - cut_y % 2), (n,), generator=g, device=dev),
            flip=u(),
            sx=u() * (m.scale - 1.0 / m.scale) + 1.0 / m.scale,
            sy=u() * (m.scale - 1.0 / m.scale) + 1.0 / m.scale,
            theta=(u() - 0.5) * 2 * m.rotate / 180 * math.pi,
        )

    # ---- applying them --------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-sample mode: one operation for the call, its parameters drawn per sample."""
        params = self.sample(x.shape[0], generator, one_op=True)
        return self.apply(x, params)

    def apply(self, x: torch.Tensor, params: AugParams, groups: torch.Tensor | None = None) -> torch.Tensor:
        """Augment ``x`` with group parameters; ``groups[i]`` is sample i's group (default: its own).

        Differentiable w.r.t. ``x``. Samples whose groups chose the same operation are processed
        together, so the cost is at most one pass per operation, not per group.
        """
        p = params.to(x.device)
        if groups is not None:
            p = p.take(groups.to(x.device))
        ops_present = torch.unique(p.op).tolist()
        if len(ops_present) == 1:
            return self._apply_op(self.ops[ops_present[0]], x, p)
        out = x
        for k in ops_present:
            idx = torch.nonzero(p.op == k, as_tuple=True)[0]
            out = out.index_copy(0, idx, self._apply_op(self.ops[k], x[idx], p.take(idx)))
        return out

    def _apply_op(self, op: str, x: torch.Tensor, p: AugParams) -> torch.Tensor:
        if op == "color":
            x = brightness(x, p.brightness, self.mag.brightness)
            x = saturation(x, p.saturation, self.mag.saturation)
            return contrast(x, p.contrast, self.mag.contrast)
        if op == "crop":
            return translate(x, p.tx, p.ty)
        if op == "cutout":
            return cutout(x, p.cx, p.cy, int(x.shape[2] * self.mag.cutout + 0.5),
                          int(x.shape[3] * self.mag.cutout + 0.5))
        if op == "flip":
            return torch.where((p.flip < self.mag.flip).view(-1, 1, 1, 1), x.flip(3), x)
        if op == "scale":
            zero = torch.zeros_like(p.sx)
            theta = torch.stack([torch.stack([p.sx, zero, zero], 1), torch.stack([zero, p.sy, zero], 1)], 1)
            return affine(x, theta)
        if op == "rotate":
            c, s, zero = torch.cos(p.theta), torch.sin(p.theta), torch.zeros_like(p.theta)
            theta = torch.stack([torch.stack([c, -s, zero], 1), torch.stack([s, c, zero], 1)], 1)
            return affine(x, theta)
        raise AssertionError(op)


def brightness(x: torch.Tensor, u: torch.Tensor, ratio: float) -> torch.Tensor:
    return x + (u.view(-1, 1, 1, 1).to(x.dtype) - 0.5) * ratio


def saturation(x: torch.Tensor, u: torch.Tensor, ratio: float) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)  # per-pixel mean over channels: a no-op for 1 channel
    return (x - mean) * (u.view(-1, 1, 1, 1).to(x.dtype) * ratio) + mean


def contrast(x: torch.Tensor, u: torch.Tensor, ratio: float) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (u.view(-1, 1, 1, 1).to(x.dtype) + ratio) + mean


def translate(x: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """Integer shift with a 1-pixel zero border, gathered exactly as DSA's ``rand_crop``."""
    N, _, H, W = x.shape
    dev = x.device
    gx = (torch.arange(H, device=dev).view(1, H, 1) + tx.view(N, 1, 1) + 1).clamp(0, H + 1)
    gy = (torch.arange(W, device=dev).view(1, 1, W) + ty.view(N, 1, 1) + 1).clamp(0, W + 1)
    gb = torch.arange(N, device=dev).view(N, 1, 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, size_x: int, size_y: int) -> torch.Tensor:
    """Zero a ``size_x`` x ``size_y`` square centred at (cx, cy), clipped to the image (DSA's cutout)."""
    N, _, H, W = x.shape
    dev = x.device
    lo_x = (cx - size_x // 2).clamp(0, H - 1).view(N, 1, 1)
    hi_x = (cx - size_x // 2 + size_x - 1).clamp(0, H - 1).view(N, 1, 1)
    lo_y = (cy - size_y // 2).clamp(0, W - 1).view(N, 1, 1)
    hi_y = (cy - size_y // 2 + size_y - 1).clamp(0, W - 1).view(N, 1, 1)
    h = torch.arange(H, device=dev).view(1, H, 1)
    w = torch.arange(W, device=dev).view(1, 1, W)
    hole = (h >= lo_x) & (h <= hi_x) & (w >= lo_y) & (w <= hi_y)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)
