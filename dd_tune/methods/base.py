"""The one interface every distillation method implements, plus the work they share.

A :class:`Distiller` owns the synthetic set and advances it with ``step()``; trainables, the
``distill`` command and the benchmarks drive every method the same way. Shared pieces live here once:
initialisation from real images or noise, the SGD-on-pixels optimiser, the fresh random network and
the class-grouped siamese DSA batch.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

import torch
from torch import nn

from dd_tune.augment import DSA
from dd_tune.config import require
from dd_tune.data import ClassIndexedData, DatasetSpec
from dd_tune.errors import ConfigError
from dd_tune.models import ModelSpec, build_model, channels_last_input, reinit_
from dd_tune.registry import Registry
from dd_tune.synset import SynSet


@dataclass
class DistillContext:
    """What a distiller needs besides its own config: data, network spec, IPC, randomness, device."""

    data: ClassIndexedData  # the training split (validation carved out), on ``device``
    dataset: DatasetSpec
    model: ModelSpec
    ipc: int
    generator: torch.Generator  # on ``device``; every random draw of the trial comes from it
    dsa_strategy: str
    # Expert trajectories for trajectory matching: ExpertConfig -> list of [epochs + 1, P] tensors.
    experts: Callable[[Any], list[torch.Tensor]] | None = None

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def dsa(self, enabled: bool) -> DSA | None:
        return DSA(self.dsa_strategy, self.dataset.size) if enabled else None


class Distiller(ABC):
    """Base class: ``step() -> metrics``, ``synset()``, ``state_dict()/load_state_dict()``."""

    # lines every report of this method carries (e.g. where its evaluation differs from the authors')
    report_notes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, ctx: DistillContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.iteration = 0

    @property
    def total_iterations(self) -> int:
        return int(getattr(self.cfg, "iterations", 0))

    @abstractmethod
    def step(self) -> dict[str, float]:
        """One distillation iteration; returns scalar metrics (at least ``loss``)."""

    @abstractmethod
    def synset(self) -> SynSet:
        """The current synthetic set (detached copy)."""

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "generator": self.ctx.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.ctx.generator.set_state(state["generator"])

    def counters(self) -> dict[str, float]:
        """Cumulative counts a method wants in every report (e.g. PAD's skipped updates)."""
        return {}

    def state_is_finite(self) -> bool:
        """False once the learned state holds NaN/inf: the method cannot recover from that."""
        return bool(torch.isfinite(self.synset().images).all())

    def run(self, n: int, callback: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
        """Run ``n`` more iterations (capped at the budget); returns the mean of each metric over the
        iterations where it was finite, ``loss`` NaN when no iteration had a finite loss, and
        ``nonfinite_steps`` (iterations with a non-finite loss)."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        nonfinite = 0
        steps = min(n, self.total_iterations - self.iteration)
        for _ in range(steps):
            metrics = self.step()
            self.iteration += 1
            nonfinite += int(not math.isfinite(metrics.get("loss", 0.0)))
            for k, v in metrics.items():
                if math.isfinite(v):
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
            if callback is not None:
                callback(self.iteration, metrics)
        if not steps:
            return {}
        out = {k: v / counts[k] for k, v in sums.items()}
        out.setdefault("loss", float("nan"))
        out["nonfinite_steps"] = float(nonfinite)
        return out

    @classmethod
    def config_notes(cls, cfg: Any, ipc: int) -> list[str]:
        """Lines the report prints about a configuration at ``ipc`` (e.g. PAD's window vs schedule)."""
        return []

    @classmethod
    def flops(cls, cfg: Any, fwd: int, num_classes: int, ipc: int) -> int:
        """Multiply-adds of a whole distillation run (``fwd``: one forward of one image); each method
        counts its own passes. The base has no learning, hence 0."""
        return 0


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config_cls: type
    distiller_cls: type[Distiller]


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, config_cls: type) -> Callable[[type[Distiller]], type[Distiller]]:
    def deco(cls: type[Distiller]) -> type[Distiller]:
        METHODS.add(name, MethodSpec(name, config_cls, cls))
        return cls

    return deco


def build_distiller(method: str, cfg: Any, ctx: DistillContext) -> Distiller:
    return METHODS.get(method).distiller_cls(cfg, ctx)


def init_of(cfg: Any) -> str | None:
    """How a method configuration initialises its set ("real", "noise", ...), or None if it has no choice."""
    return getattr(cfg, "init", None)


def expert_pool(cfg: Any) -> Any:
    """The expert trajectories a configuration matches (an ``ExpertConfig``), or None (no experts)."""
    return getattr(cfg, "experts", None)


# ---- shared pieces ------------------------------------------------------------------------------
def class_labels(num_classes: int, per_class: int, device: torch.device) -> torch.Tensor:
    """``[0]*k + [1]*k + ...``: synthetic sets are stored grouped by class."""
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


def init_images(ctx: DistillContext, init: Literal["real", "noise"]) -> torch.Tensor:
    """IPC random real images per class, or N(0, 1) noise in normalised pixel space (DM's options)."""
    n = ctx.num_classes * ctx.ipc
    if init == "noise":
        shape = (n, ctx.dataset.channels, *ctx.dataset.size)
        return torch.randn(shape, generator=ctx.generator, device=ctx.generator.device).to(ctx.device)
    if ctx.ipc > int(ctx.data.counts.min()):
        raise ConfigError(
            f"ipc {ctx.ipc} exceeds the smallest class of the training split "
            f"({int(ctx.data.counts.min())} images)"
        )
    idx = ctx.data.sample_per_class(ctx.ipc, ctx.generator)
    return ctx.data.images[idx.flatten()].clone()


class PixelDistiller(Distiller):
    """A distiller whose learnable state is the image tensor, updated by SGD with momentum."""

    def __init__(self, cfg: Any, ctx: DistillContext) -> None:
        super().__init__(cfg, ctx)
        self.images = init_images(ctx, cfg.init).requires_grad_(True)
        self.labels = class_labels(ctx.num_classes, ctx.ipc, ctx.device)
        # SGD on the pixels, momentum 0.5, no weight decay: the DM/DataDAM reference optimiser
        self.opt = torch.optim.SGD([self.images], lr=cfg.lr_img, momentum=cfg.momentum_img)

    @classmethod
    def flops(cls, cfg: Any, fwd: int, num_classes: int, ipc: int) -> int:
        """Per iteration: a no-grad forward of ``batch_real`` real images per class, and a forward and
        a backward of the synthetic set; the network is frozen, so the backward computes input
        gradients only (about one forward, not two). DataDAM's attention maps are elementwise (no
        multiply-adds worth counting next to the convolutions)."""
        per_iteration = fwd * num_classes * cfg.batch_real + 2 * fwd * num_classes * ipc
        return int(cfg.iterations) * per_iteration

    def update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def synset(self) -> SynSet:
        return SynSet(self.images.detach().cpu().clone(), self.labels.cpu().clone(),
                      self.ctx.dataset.name, self.ctx.ipc, self.method_name,
                      meta={"iteration": self.iteration})

    @property
    def method_name(self) -> str:
        return type(self).__name__

    def state_dict(self) -> dict[str, Any]:
        # copies: a state must not change when the distiller goes on (it may be kept in memory)
        return {**super().state_dict(), "images": self.images.detach().cpu().clone(),
                "opt": copy.deepcopy(self.opt.state_dict())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
        self.opt.load_state_dict(state["opt"])


class FreshNetwork:
    """One network re-initialised in place every iteration (DM/DataDAM's random embedding spaces).

    Weights are frozen (no parameter gradients: only the images need them) and the network stays in
    train mode, as in the reference.
    """

    def __init__(self, spec: ModelSpec, generator: torch.Generator, device: torch.device) -> None:
        self.generator = generator
        self.net: nn.Module = build_model(spec, generator, device)
        if device.type == "cpu":
            # channels-last convolutions: the big no-grad real pass runs ~1.3-2x faster on CPU
            # (bench/dm_step.py); a 1-channel batch is otherwise run in whichever layout DSA's last
            # operation happened to leave, and the step time jumps between the two
            self.net = self.net.to(memory_format=torch.channels_last)
        self.net.train()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def __call__(self) -> nn.Module:
        return reinit_(self.net, self.generator)


def class_batches(
    ctx: DistillContext, images: torch.Tensor, batch_real: int, dsa: DSA | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A real batch of ``batch_real`` images per class and the synthetic set, siamese-augmented.

    Every class draws its own DSA operation and parameters, shared by its real and synthetic
    images (docs/methods.md §1.3). Returns (real ``[C*b, ...]``, synthetic ``[C*ipc, ...]``, b).
    """
    idx = ctx.data.sample_per_class(batch_real, ctx.generator)
    b = idx.shape[1]
    real = ctx.data.images[idx.flatten()]
    syn = images
    if dsa is not None:
        params = dsa.sample(ctx.num_classes, ctx.generator)
        real = dsa.apply(real, params, class_labels(ctx.num_classes, b, ctx.device))
        syn = dsa.apply(syn, params, class_labels(ctx.num_classes, ctx.ipc, ctx.device))
    return channels_last_input(real), channels_last_input(syn), b


def no_grad_chunked(net: nn.Module, fn: Callable[[torch.Tensor], Any], x: torch.Tensor, chunk: int = 0) -> Any:
    """``fn(x)`` without autograd, in chunks of ``chunk`` images (0 = auto: 32 on CPU, all on GPU).

    On this kind of 2-core CPU the big real batch is memory-bound and cache-sized chunks run ~1.7x
    faster; the result is the same because every layer is per-sample. Batch norm is not: its
    statistics must see the whole batch (as the reference's one concatenated forward), so a network
    with BatchNorm is never chunked. ``fn`` returns a tensor or a tuple/list of tensors.
    """
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    if chunk <= 0:
        chunk = 32 if x.device.type == "cpu" else len(x)
    with torch.no_grad():
        if has_bn or chunk >= len(x):
            return fn(x)
        parts = [fn(part) for part in x.split(chunk)]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return type(parts[0])(torch.cat(items) for items in zip(*parts))


def validate_pixel_config(cfg: Any) -> None:
    """``__post_init__`` checks shared by the configs of pixel-learning methods (DM, DataDAM)."""
    require(cfg.iterations >= 0, "iterations", f"must be >= 0, got {cfg.iterations}")
    require(cfg.lr_img > 0, "lr_img", f"must be > 0, got {cfg.lr_img}")
    require(0 <= cfg.momentum_img < 1, "momentum_img", f"must be in [0, 1), got {cfg.momentum_img}")
    require(cfg.batch_real >= 1, "batch_real", f"must be >= 1, got {cfg.batch_real}")
    require(cfg.real_chunk >= 0, "real_chunk", "must be >= 0")
