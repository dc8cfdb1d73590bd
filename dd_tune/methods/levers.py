"""A configuration's design-space levers in words, for row titles ("DM + multi-formation ×2, herding init").

A lever is named when it differs from the method's reference default (or, for the distillation network,
from the study's evaluation network); the method's own hyperparameters (learning rates, budgets) are not
levers and are listed in the report's configuration table instead.
"""

from __future__ import annotations

from typing import Any

from dd_tune.methods.base import METHODS

NAMES = dict(dm="DM", datadam="DataDAM", pad="PAD", random_real="random real")  # method -> display name


def levers(method: str, cfg: Any, model: Any) -> list[str]:
    """The levers ``cfg`` switches on, each in a few words."""
    reference = METHODS.get(method).config_cls()
    out = []
    factor = getattr(cfg, "factor", 1)
    if factor > 1:
        out.append(f"multi-formation ×{factor}")
    init = getattr(cfg, "init", None)
    if init is not None and init != getattr(reference, "init", None):
        where = ""
        if init in ("herding", "kcenter"):
            where = " (trained ConvNet)" if cfg.selection.embedding == "trained" else " (random ConvNet)"
        out.append(f"{'k-centre' if init == 'kcenter' else init} init{where}")
    if getattr(cfg, "lr_schedule", "constant") != "constant":
        out.append(f"{cfg.lr_schedule} lr_img")
    if getattr(cfg, "dsa_strategy", ""):
        out.append(f"DSA {cfg.dsa_strategy}")
    if hasattr(reference, "momentum_img") and cfg.momentum_img != reference.momentum_img:
        out.append(f"image momentum {cfg.momentum_img:g}")
    net = [f"{label}{getattr(cfg, key)}" for key, attr, label in
           (("net_width", "width", "width "), ("net_depth", "depth", "depth "), ("net_norm", "norm", ""),
            ("net_pooling", "pooling", "")) if hasattr(cfg, key) and getattr(cfg, key) != getattr(model, attr)]
    if net:
        out.append("distillation ConvNet " + ", ".join(n.replace("instance", "instance norm").replace(
            "batch", "batch norm").replace("none", "no norm").replace("avg", "avg pool").replace("max", "max pool")
            for n in net))
    return out


def title(method: str, cfg: Any, model: Any) -> str:
    """``"DM + multi-formation ×2, herding init"``, or just the method when no lever is on."""
    on = levers(method, cfg, model)
    return NAMES.get(method, method) + (" + " + ", ".join(on) if on else "")
