"""FLOP counts with fvcore: one forward per image, and the total of an evaluation run.

fvcore counts one fused multiply-add as one FLOP. Totals are analytic from the forward count: a
backward pass costs about twice a forward, so a training step on n images is ~3n forwards. Each
method counts its own distillation (``Distiller.flops``); the expert stage is ``experts.expert_flops``.
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


def evaluation_flops(fwd: int, n_train: int, epochs: int, n_test: int) -> int:
    """One evaluation run: (epochs + 1) passes of forward+backward over the set, then one test pass."""
    return 3 * fwd * n_train * (epochs + 1) + fwd * n_test
