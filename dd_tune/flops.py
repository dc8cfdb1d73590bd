"""FLOP counts with fvcore: one forward per image, and totals for a distillation and an evaluation.

fvcore counts one fused multiply-add as one FLOP. Totals are analytic from the forward count: a
backward pass costs about twice a forward, so a training step on n images is ~3n forwards.
"""

from __future__ import annotations

import logging

import torch

from dd_tune.models import ModelSpec, build_model


def forward_flops(spec: ModelSpec) -> int:
    """FLOPs of one forward pass of one image through a freshly built model (classifier included)."""
    from fvcore.nn import FlopCountAnalysis

    net = build_model(spec, torch.Generator().manual_seed(0)).eval()
    x = torch.zeros(1, spec.channels, *spec.size)
    analysis = FlopCountAnalysis(net, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    return int(analysis.total())


def distillation_flops(method: str, cfg: object, fwd: int, num_classes: int, ipc: int) -> int:
    """Total FLOPs of a distillation run (DM-style: real forward + synthetic forward/backward)."""
    iterations = int(getattr(cfg, "iterations", 0))
    if method == "random_real" or iterations == 0:
        return 0
    batch_real = int(getattr(cfg, "batch_real", 0))
    per_iteration = fwd * num_classes * batch_real + 3 * fwd * num_classes * ipc
    return iterations * per_iteration


def evaluation_flops(fwd: int, n_train: int, epochs: int, n_test: int) -> int:
    """One evaluation run: (epochs + 1) passes of forward+backward over the set, then one test pass."""
    return 3 * fwd * n_train * (epochs + 1) + fwd * n_test
