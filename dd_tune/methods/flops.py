"""FLOP counts with fvcore: one forward per image, and the total of an evaluation run.

fvcore counts one fused multiply-add as one FLOP. Totals are analytic from the forward count: a
backward pass costs about twice a forward, so a training step on n images is ~3n forwards. Each
method counts its own distillation (``Distiller.flops``); the expert stage is ``experts.expert_flops``.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import torch

from dd_tune.config import StudyConfig, to_dict
from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import ModelSpec, build_model
from dd_tune.experts import ExpertConfig, expert_flops
from dd_tune.methods import METHODS
from dd_tune.methods.pixel import distill_network
from dd_tune.records import ExpertFlops, FlopCount


def forward_flops(spec: ModelSpec) -> int:
    """FLOPs of one forward pass of one image through a freshly built model (classifier included)."""
    with warnings.catch_warnings():  # fvcore.nn scripts a loss with torch.jit at import, which torch deprecates
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis  # heavy optional import, only where FLOPs are counted

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


def study_flops(study: StudyConfig, best_cfg: Any, ipc: int) -> FlopCount:
    """Forward FLOPs per image of each architecture, the distillation of the tuned and the default
    configuration (each method's own count) and one evaluation run of the final protocol."""
    spec = DATASETS.get(study.dataset)
    e = study.final_eval
    fwd: dict[str, int] = {arch: forward_flops(model_spec_for(arch, spec, study.model)) for arch in e.archs}
    method = METHODS.get(study.method).distiller_cls
    n_syn = spec.num_classes * ipc
    return FlopCount(
        forward_per_image=fwd,
        # each configuration distils with its own network (its net_* levers: width, depth, norm, pooling)
        distillation_best=method.flops(best_cfg, _distill_forward(study, best_cfg), spec.num_classes, ipc),
        distillation_default=method.flops(study.distill, _distill_forward(study, study.distill), spec.num_classes,
                                          ipc),
        evaluation_one_run={a: evaluation_flops(f, n_syn, e.epochs, spec.test_images) for a, f in fwd.items()})


def _distill_forward(study: StudyConfig, cfg: Any) -> int:
    """Forward FLOPs per image of the network ``cfg`` distils with (the study's, with its ``net_*`` levers)."""
    base = model_spec_for(study.model.name, DATASETS.get(study.dataset), study.model)
    return forward_flops(distill_network(base, cfg) if hasattr(cfg, "net_width") else base)


def expert_stage_flops(study: StudyConfig, pools: list[ExpertConfig], class_counts: list[int]) -> ExpertFlops:
    """The expert stage: difficulty scoring (once per distinct scoring setup, as it is cached) and the
    training of every expert of every pool, with its data schedule."""
    spec = DATASETS.get(study.dataset)
    fwd = forward_flops(model_spec_for(study.model.name, spec, study.model))
    total = {"difficulty": 0, "training": 0}
    scored: set[str] = set()
    for cfg in pools:
        f = expert_flops(cfg, fwd, class_counts)
        key = json.dumps([to_dict(cfg.difficulty), cfg.seed], sort_keys=True)
        if key not in scored:  # scores are cached per scoring setup: computed once
            total["difficulty"] += f["difficulty"]
            if f["difficulty"]:
                scored.add(key)
        total["training"] += f["training"]
    return ExpertFlops(total["difficulty"], total["training"])
