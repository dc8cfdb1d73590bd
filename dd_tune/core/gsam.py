"""GSAM (Zhuang et al., ICLR 2022), the optimiser FTD, DATM and PAD train their experts with.

One step, at weights w with loss gradient g = grad L(w) (the released ``gsam`` package that PAD's
``buffer_CL.py`` imports, ``adaptive=True``):

1. perturb: e = rho * g / (||g||_a + 1e-12), times w**2 when adaptive, where ||g||_a = ||g * |w| ||_2 when
   adaptive, else ||g||_2; move to w + e;
2. g_p = grad L(w + e) (the same minibatch, the same augmentation);
3. decompose: cos = <g, g_p> / (||g|| ||g_p|| + 1e-12); vertical = g - cos ||g|| g_p / (||g_p|| + 1e-12);
   the update direction is g_p - alpha * vertical;
4. back to w, and the base optimiser (SGD) steps along that direction.

PAD's recipe: rho 0.01 constant (``rho_max = rho_min``, a lr schedule with gamma 1), alpha 0.3, SGD with
lr 0.01, no momentum, no weight decay. As the reference, batch norm's running statistics are left alone
by the second (perturbed) pass: its momentum is 0 for that pass (instance norm keeps none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from dd_tune.config import require

_EPS = 1e-12  # the reference's perturb_eps


@dataclass(frozen=True)
class GSAMConfig:
    """PAD's README values (its argparse defaults, rho 2.0 and alpha 0.4, are not what its buffers used)."""

    rho: float = 0.01
    alpha: float = 0.3
    adaptive: bool = True

    def __post_init__(self) -> None:
        require(self.rho > 0, "rho", f"must be > 0, got {self.rho}")
        require(self.alpha >= 0, "alpha", f"must be >= 0, got {self.alpha}")


def _global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all ``tensors`` taken as one vector."""
    norm: torch.Tensor = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))
    return norm


class GSAM(torch.optim.Optimizer):
    """Wraps a base optimiser; :meth:`step` needs a closure that zeroes the gradients, computes the
    minibatch loss, back-propagates it and returns it (it is called twice per step)."""

    def __init__(self, params: list[torch.nn.Parameter], base: torch.optim.Optimizer, cfg: GSAMConfig,
                 model: torch.nn.Module | None = None) -> None:
        super().__init__(params, {})
        self.base = base
        self.param_groups = base.param_groups  # one set of groups: the base's lr is the step's lr
        self.cfg = cfg
        self.norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] \
            if model is not None else []

    def _norm(self, grads: list[torch.Tensor], params: list[torch.Tensor]) -> torch.Tensor:
        """The perturbation's norm: ||g * |w| || when adaptive, else ||g||."""
        return _global_norm([g * p.abs() for g, p in zip(grads, params)] if self.cfg.adaptive else grads)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise ValueError("GSAM.step needs a closure (it evaluates the gradient twice)")
        with torch.enable_grad():
            loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        g = [p.grad.clone() for p in params]
        scale = self.cfg.rho / (self._norm(g, params) + _EPS)
        e = [gi * scale * p.pow(2) if self.cfg.adaptive else gi * scale for gi, p in zip(g, params)]
        torch._foreach_add_(params, e)
        momenta = [m.momentum for m in self.norms]
        for m in self.norms:
            m.momentum = 0.0  # running statistics unchanged by the perturbed pass
        with torch.enable_grad():
            closure()
        for m, momentum in zip(self.norms, momenta):
            m.momentum = momentum
        gp = [p.grad for p in params]
        g_norm, gp_norm = _global_norm(g), _global_norm(gp)
        inner = sum((a * b).sum() for a, b in zip(g, gp))
        cosine = inner / (g_norm * gp_norm + _EPS)
        for a, b in zip(g, gp):
            b.add_(a - cosine * g_norm * b / (gp_norm + _EPS), alpha=-self.cfg.alpha)
        torch._foreach_sub_(params, e)
        self.base.step()
        return loss
