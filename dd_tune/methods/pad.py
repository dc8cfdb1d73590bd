"""PAD: trajectory matching with prioritised alignment (Li et al. 2024), docs/methods.md §4.3.

Each iteration: pick an expert trajectory; draw a start epoch t from a window that widens with the
iterations (``min_start_epoch`` .. ``current_max_start_epoch`` -> ``max_start_epoch`` over
``expansion_end_epoch`` iterations); unroll ``syn_steps`` differentiable SGD steps from theta_t on
minibatches of the synthetic set (fresh per-sample DSA, soft cross-entropy to learnable labels, learnable
step size alpha) through :class:`FlatModel`; loss = normalised distance to theta_{t+M} over the
selected parameters; skip the update when the loss exceeds ``threshold``; else step the images
(lr_img, momentum 0.5), alpha (lr_lr, momentum 0.5) and the labels (lr_y, momentum_y).

Presets: ``pad`` (default), ``datm`` (no parameter selection, experts without the scheduler) and
``mtt`` (additionally hard labels, random-real init, a fixed start window).

Deliberate deviations, named here: the expert of an
iteration and its minibatches are drawn from the trial generator (the reference cycles a shuffled
list and reshuffles minibatches only when exhausted); ``init: correct`` keeps real images that any
expert's final checkpoint classifies correctly, labelled with the mean logits of those experts; noise
and random-real init take their soft labels from the first expert's final logits of random real
images of the same class (PAD cannot initialise from noise at all).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F

from dd_tune.base.errors import ConfigError
from dd_tune.base.keys import LOSS
from dd_tune.core.models import build_model
from dd_tune.core.synset import SynSet
from dd_tune.core.training import soft_cross_entropy
from dd_tune.methods.base import DistillContext, Distiller, class_labels, init_images, register_method
from dd_tune.methods.pad_config import PADConfig, start_window, window_phases, window_rule
from dd_tune.methods.selection import initial_images
from dd_tune.methods.trajectory import FlatModel, trajectory_loss

__all__ = ["PADConfig", "PADDistiller", "start_window", "window_phases", "window_rule"]


@register_method("pad", PADConfig)
class PADDistiller(Distiller):
    report_notes = (
        "PAD sets are evaluated with their learned step size α (the step-size column) and soft labels, as "
        "PAD does; the row 'tuned, hard labels, lr 0.01' trains on the same images with class labels and "
        "the protocol's lr, so it compares with the other methods.",
    )
    def __init__(self, cfg: PADConfig, ctx: DistillContext) -> None:
        super().__init__(cfg, ctx)
        if ctx.experts is None:
            raise ConfigError("PAD needs expert trajectories: run it through a study or `dd_tune.distill`")
        self.trajectories = ctx.experts(cfg.experts)
        self.flat = FlatModel(build_model(ctx.model, ctx.generator, ctx.device))
        if self.trajectories[0].shape[1] != self.flat.size:
            raise ConfigError("expert trajectories do not match the model's parameter count")
        images, labels = self._initial_set()
        # soft labels are learned unless the set starts from noise with hard labels (noise_labels: hard)
        self.soft = labels.dim() == 2
        self.images = images.requires_grad_(True)
        self.labels = labels.requires_grad_(self.soft)
        self.syn_lr = torch.tensor(cfg.syn_lr_init, device=ctx.device, requires_grad=True)
        self.opt_img = torch.optim.SGD([self.images], lr=cfg.lr_img, momentum=0.5)
        self.opt_lr = torch.optim.SGD([self.syn_lr], lr=cfg.lr_lr, momentum=0.5)
        self.opt_y = torch.optim.SGD([self.labels], lr=cfg.lr_y, momentum=cfg.momentum_y) \
            if self.soft else None
        self.dsa = ctx.dsa(cfg.dsa, cfg.dsa_strategy)
        self.skipped = {"nonfinite": 0, "threshold": 0}
        # why a trial went nowhere, per report: the smallest matching loss so far and how many
        # iterations had a finite loss at or under the threshold (every finite one without a threshold)
        self.loss_seen = {"min": math.inf, "under": 0, "iterations": 0}

    @classmethod
    def config_notes(cls, cfg: PADConfig, ipc: int) -> list[str]:
        rule = window_rule(cfg, ipc)
        return [window_phases(cfg) + "."] + ([f"Warning: the window contradicts PAD's design: {rule}."] if rule else [])

    @classmethod
    def flops(cls, cfg: PADConfig, fwd: int, num_classes: int, ipc: int) -> int:
        """Per iteration, per unrolled step on a minibatch of b images: forward (1), the first-order
        backward kept for differentiation (2), and the outer backward through both (about twice their
        cost: 6), i.e. 9 forwards per image. The expert stage is counted on its own line."""
        n = num_classes * ipc
        b = cfg.batch_syn if 0 < cfg.batch_syn < n else n
        return int(cfg.iterations) * cfg.syn_steps * 9 * fwd * b

    # ---- initialisation -----------------------------------------------------------------------
    def _expert_logits(self, x: torch.Tensor, which: list[int]) -> torch.Tensor:
        """[len(which), N, C] logits of the experts' final checkpoints."""
        with torch.no_grad():
            return torch.stack([self.flat(self.trajectories[e][-1].to(x.device), x) for e in which])

    def _initial_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        ctx, cfg = self.ctx, self.cfg
        hard = class_labels(ctx.num_classes, ctx.ipc, ctx.device)
        if cfg.init == "correct":
            images, logits = self._correctly_classified()
        elif cfg.init == "noise":
            real = init_images(ctx, "real")  # drawn first in every case: the noise stays the same draw
            images = init_images(ctx, "noise")
            if cfg.noise_labels == "hard":
                return images, hard
            # real_logits: the first expert's logits of real images of each class (dd_tune's choice);
            # self_logits: of the noise images themselves, PAD's real-init branch applied to noise
            logits = self._expert_logits(real if cfg.noise_labels == "real_logits" else images, [0])[0]
        else:  # random real or class centres, labelled by the first expert (as PAD's real init)
            images = initial_images(ctx, cfg.init, 1, cfg.selection)
            logits = self._expert_logits(images, [0])[0]
        return images, (logits.clone() if cfg.soft_labels else hard)

    def _correctly_classified(self) -> tuple[torch.Tensor, torch.Tensor]:
        ctx = self.ctx
        n_cand = min(int(ctx.data.counts.min()), 4 * ctx.ipc + 16)
        cand = ctx.data.sample_per_class(n_cand, ctx.generator)  # [C, n_cand], random order
        x = ctx.data.images[cand.flatten()]
        logits = self._expert_logits(x, list(range(len(self.trajectories))))  # [E, C*n, K]
        y = class_labels(ctx.num_classes, n_cand, ctx.device)
        correct = logits.argmax(2) == y  # [E, C*n]
        any_correct = correct.any(0).view(ctx.num_classes, n_cand)
        # correct candidates first (stable: keeps the random order), then the rest as a fallback
        rank = torch.argsort((~any_correct).to(torch.int8), dim=1, stable=True)[:, : ctx.ipc]
        pick = (rank + torch.arange(ctx.num_classes, device=ctx.device).unsqueeze(1) * n_cand).flatten()
        weights = correct[:, pick].to(logits.dtype)
        weights = torch.where(weights.sum(0, keepdim=True) > 0, weights, torch.ones_like(weights))
        mean_logits = (logits[:, pick] * weights.unsqueeze(2)).sum(0) / weights.sum(0).unsqueeze(1)
        return x[pick].clone(), mean_logits

    # ---- one iteration ------------------------------------------------------------------------
    def _minibatch(self) -> torch.Tensor:
        n = len(self.images)
        b = self.cfg.batch_syn
        if b <= 0 or b >= n:
            return torch.arange(n, device=self.ctx.device)
        gen = self.ctx.generator
        return torch.randperm(n, generator=gen, device=gen.device)[:b].to(self.ctx.device)

    def unroll(self, start: torch.Tensor) -> torch.Tensor:
        """theta after ``syn_steps`` differentiable SGD steps on the synthetic set from ``start``."""
        theta = start.clone().requires_grad_(True)
        for _ in range(self.cfg.syn_steps):
            idx = self._minibatch()
            x = self.images[idx]
            if self.dsa is not None:
                x = self.dsa(x, self.ctx.generator)
            out = self.flat(theta, x)
            y = self.labels[idx]
            ce = soft_cross_entropy(out, y) if self.soft else F.cross_entropy(out, y)
            (grad,) = torch.autograd.grad(ce, theta, create_graph=True)
            theta = theta - self.syn_lr * grad
        return theta

    def step(self) -> dict[str, float]:
        cfg, gen, dev = self.cfg, self.ctx.generator, self.ctx.device
        expert = int(torch.randint(len(self.trajectories), (1,), generator=gen, device=gen.device))
        low, high = start_window(cfg, self.iteration)
        t = int(torch.randint(low, high, (1,), generator=gen, device=gen.device))
        traj = self.trajectories[expert]
        start, target = traj[t].to(dev), traj[t + cfg.expert_epochs].to(dev)
        loss = trajectory_loss(self.unroll(start), start, target, cfg.select_ratio, cfg.select_mode)
        value = float(loss.detach())
        # Like the reference, a bad step is skipped and distillation goes on: a non-finite loss (the
        # unrolled network blew up from this start epoch) or one above ``threshold``.
        nonfinite = not math.isfinite(value)
        over = not nonfinite and cfg.threshold is not None and value > cfg.threshold
        if not (nonfinite or over):
            opts = [o for o in (self.opt_img, self.opt_lr, self.opt_y) if o is not None]
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            for o in opts:
                o.step()
        self.skipped["nonfinite"] += int(nonfinite)
        self.skipped["threshold"] += int(over)
        self.loss_seen["iterations"] += 1
        if not nonfinite:
            self.loss_seen["min"] = min(self.loss_seen["min"], value)
            self.loss_seen["under"] += int(not over)
        return {LOSS: value, "syn_lr": float(self.syn_lr.detach()), "start_epoch": float(t),
                "skipped": float(nonfinite or over)}

    def counters(self) -> dict[str, float]:
        """Skipped updates so far, the smallest matching loss and the share of iterations at or under the
        threshold (TensorBoard scalars per report, and the report's trial table)."""
        seen = self.loss_seen
        return {"skipped_steps": float(sum(self.skipped.values())),
                "skipped_nonfinite": float(self.skipped["nonfinite"]),
                "skipped_threshold": float(self.skipped["threshold"]),
                "matching_loss_min": float(seen["min"]) if math.isfinite(seen["min"]) else float("nan"),
                "matching_under_threshold": float(seen["under"]) / seen["iterations"] if seen["iterations"] else 0.0}

    def state_is_finite(self) -> bool:
        return bool(torch.isfinite(self.images).all() and torch.isfinite(self.labels).all()
                    and torch.isfinite(self.syn_lr) and float(self.syn_lr.detach()) > 0)

    # ---- state -------------------------------------------------------------------------------
    def synset(self) -> SynSet:
        return SynSet(self.images.detach().cpu().clone(), self.labels.detach().cpu().clone(),
                      self.ctx.dataset.name, self.ctx.ipc, "pad", lr=float(self.syn_lr.detach()),
                      meta={"iteration": self.iteration}, zca=self.ctx.zca)

    def state_dict(self) -> dict[str, Any]:
        opts = {"opt_img": self.opt_img, "opt_lr": self.opt_lr, "opt_y": self.opt_y}
        return {**super().state_dict(), "images": self.images.detach().cpu().clone(),
                "labels": self.labels.detach().cpu().clone(), "syn_lr": self.syn_lr.detach().cpu().clone(),
                "skipped": dict(self.skipped), "loss_seen": dict(self.loss_seen),
                **{k: copy.deepcopy(o.state_dict()) for k, o in opts.items() if o is not None}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
            self.labels.copy_(state["labels"].to(self.labels.device))
            self.syn_lr.copy_(state["syn_lr"].to(self.syn_lr.device))
        self.skipped = {k: int(v) for k, v in state.get("skipped", self.skipped).items()}
        self.loss_seen = dict(state.get("loss_seen", self.loss_seen))
        self.opt_img.load_state_dict(state["opt_img"])
        self.opt_lr.load_state_dict(state["opt_lr"])
        if self.opt_y is not None:
            self.opt_y.load_state_dict(state["opt_y"])
