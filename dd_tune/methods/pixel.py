"""What the pixel-learning methods (DM, DataDAM) share: their configuration's common keys and design-space
levers, the SGD-on-pixels optimiser with its schedule, the fresh random network every iteration and the
class-grouped siamese DSA batch.

The levers (docs/methods.md, "The design space") are all off in the reference defaults: IDC's
multi-formation (``factor``), class-centre initialisations (``init: herding | kcenter``), the
distillation network (``net_*``: the random networks the set is matched in, not the evaluation
network), the DSA operations, the image momentum and SRe2L's cosine image learning rate.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import torch
from torch import nn

from dd_tune.base.errors import ConfigError
from dd_tune.config import require
from dd_tune.core.augment import DSA, parse_strategy
from dd_tune.core.formation import MAX_FACTOR, decode_grouped
from dd_tune.core.models import ModelSpec, Network, build_model, channels_last_input, reinit_
from dd_tune.core.synset import SynSet
from dd_tune.methods.base import DistillContext, Distiller, class_labels
from dd_tune.methods.selection import SelectionConfig, initial_images


@dataclass(frozen=True)
class PixelConfig:
    """Keys every pixel-learning method has; defaults are DM's reference (``main_DM.py``)."""

    iterations: int = 20000
    lr_img: float = 1.0
    momentum_img: float = 0.5  # the DM/DataDAM/IDC image optimiser's momentum
    batch_real: int = 256  # real images per class per iteration
    init: Literal["real", "noise", "herding", "kcenter"] = "real"
    dsa: bool = True
    real_chunk: int = 0  # real-batch chunk for the no-grad forward; 0 = auto (see no_grad_chunked)
    # ---- design-space levers, off in the reference defaults ----
    factor: int = 1  # IDC multi-formation: factor² training images per stored image (1 = off)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: SRe2L's lr_cosine_policy, no warm-up
    dsa_strategy: str = ""  # "" = the dataset's strategy; else '_'-separated DSA operations
    # the random distillation ConvNet; 0 / "" = the study's model (resolved when the study is loaded)
    net_width: int = 0
    net_depth: int = 0
    net_norm: Literal["", "instance", "batch", "none"] = ""
    net_pooling: Literal["", "avg", "max"] = ""
    selection: SelectionConfig = field(default_factory=SelectionConfig)  # embedding of init herding/kcenter

    def __post_init__(self) -> None:
        validate_pixel_config(self)


def validate_pixel_config(cfg: Any) -> None:
    """``__post_init__`` checks of :class:`PixelConfig` (and its subclasses)."""
    require(cfg.iterations >= 0, "iterations", f"must be >= 0, got {cfg.iterations}")
    require(cfg.lr_img > 0, "lr_img", f"must be > 0, got {cfg.lr_img}")
    require(0 <= cfg.momentum_img < 1, "momentum_img", f"must be in [0, 1), got {cfg.momentum_img}")
    require(cfg.batch_real >= 1, "batch_real", f"must be >= 1, got {cfg.batch_real}")
    require(cfg.real_chunk >= 0, "real_chunk", "must be >= 0")
    require(1 <= cfg.factor <= MAX_FACTOR, "factor", f"must be in [1, {MAX_FACTOR}], got {cfg.factor}")
    require(0 <= cfg.net_depth <= 8, "net_depth", f"must be in [1, 8] (0 = the study's), got {cfg.net_depth}")
    require(cfg.net_width >= 0, "net_width", f"must be >= 1 (0 = the study's), got {cfg.net_width}")
    check_strategy(cfg.dsa_strategy)


def check_strategy(strategy: str) -> None:
    """A ``dsa_strategy`` key: "" (the dataset's) or valid DSA operations."""
    if strategy:
        try:
            parse_strategy(strategy)
        except ConfigError as e:
            require(False, "dsa_strategy", str(e))


NETWORK_KEYS = {"net_width": "width", "net_depth": "depth", "net_norm": "norm", "net_pooling": "pooling"}


def with_study_network(cfg: Any, model: Any) -> Any:
    """``cfg`` with every unset (0 / "") ``net_*`` key taken from the study's model, so a configuration
    names the network it distils with (and the default lies in a searched range)."""
    if not hasattr(cfg, "net_width"):
        return cfg
    unset = {key: getattr(model, attr) for key, attr in NETWORK_KEYS.items() if getattr(cfg, key) in (0, "")}
    return dataclasses.replace(cfg, **unset) if unset else cfg


def distill_network(model: ModelSpec, cfg: Any) -> ModelSpec:
    """The study's network with the configuration's ``net_*`` levers (a ConvNet; other models as they are)."""
    if model.name != "convnet":
        return model
    changes = {attr: getattr(cfg, key) for key, attr in NETWORK_KEYS.items() if getattr(cfg, key) not in (0, "")}
    return dataclasses.replace(model, **changes)


def scheduled_lr(base: float, schedule: str, iteration: int, total: int) -> float:
    """The image learning rate at ``iteration`` (0-based) of ``total``: constant, or SRe2L's cosine
    ``0.5 * (1 + cos(pi * t / T)) * base`` (recover/utils.py ``lr_cosine_policy`` without warm-up)."""
    if schedule == "cosine" and total > 0:
        return 0.5 * (1.0 + math.cos(math.pi * iteration / total)) * base
    return base


class PixelDistiller(Distiller):
    """A distiller whose learnable state is the stored images, updated by SGD with momentum; the set it
    trains networks on is their multi-formation decoding (the stored images themselves at factor 1)."""

    def __init__(self, cfg: Any, ctx: DistillContext) -> None:
        super().__init__(cfg, ctx)
        self.images = initial_images(ctx, cfg.init, cfg.factor, cfg.selection).requires_grad_(True)
        self.labels = class_labels(ctx.num_classes, ctx.ipc, ctx.device)
        # SGD on the pixels, momentum 0.5, no weight decay: the DM/DataDAM reference optimiser
        self.opt = torch.optim.SGD([self.images], lr=cfg.lr_img, momentum=cfg.momentum_img)
        self.fresh = FreshNetwork(distill_network(ctx.model, cfg), ctx.generator, ctx.device)
        self.dsa = ctx.dsa(cfg.dsa, cfg.dsa_strategy)

    @classmethod
    def flops(cls, cfg: Any, fwd: int, num_classes: int, ipc: int) -> int:
        """Per iteration: a no-grad forward of ``batch_real`` real images per class, and a forward and
        a backward of the decoded synthetic set (``factor²`` images per stored image); the network is
        frozen, so the backward computes input gradients only (about one forward, not two). DataDAM's
        attention maps are elementwise (no multiply-adds worth counting next to the convolutions)."""
        per_iteration = fwd * num_classes * cfg.batch_real + 2 * fwd * num_classes * ipc * cfg.factor ** 2
        return int(cfg.iterations) * int(per_iteration)

    @classmethod
    def budget_free(cls, cfg: Any) -> bool:
        # the cosine schedule is the one thing that looks at the budget (its step size at iteration t is a
        # function of t / iterations); DM's and DataDAM's sampling and networks do not
        return bool(cfg.lr_schedule != "cosine")

    def training_images(self) -> torch.Tensor:
        """The set networks are matched on (differentiable in the stored images), grouped by class."""
        return decode_grouped(self.images, self.ctx.num_classes, self.cfg.factor)

    def update(self, loss: torch.Tensor) -> None:
        lr = scheduled_lr(self.cfg.lr_img, self.cfg.lr_schedule, self.iteration, self.total_iterations)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def synset(self) -> SynSet:
        return SynSet(self.images.detach().cpu().clone(), self.labels.cpu().clone(),
                      self.ctx.dataset.name, self.ctx.ipc, self.method_name,
                      meta={"iteration": self.iteration}, factor=self.cfg.factor, zca=self.ctx.zca)

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
        self.net: Network = build_model(spec, generator, device)
        if device.type == "cpu":
            # channels-last convolutions: the big no-grad real pass runs ~1.3-2x faster on CPU
            # (bench/dm_step.py); a 1-channel batch is otherwise run in whichever layout DSA's last
            # operation happened to leave, and the step time jumps between the two
            self.net = self.net.to(memory_format=torch.channels_last)
        self.net.train()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def __call__(self) -> Network:
        return reinit_(self.net, self.generator)


def class_batches(
    ctx: DistillContext, images: torch.Tensor, batch_real: int, dsa: DSA | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A real batch of ``batch_real`` images per class and the (decoded) synthetic set, siamese-augmented.

    Every class draws its own DSA operation and parameters, shared by its real and synthetic
    images (docs/methods.md §1.3); multi-formation decodes before augmenting, as IDC. Returns (real
    ``[C*b, ...]``, synthetic ``[C*n, ...]``, b), both grouped by class.
    """
    idx = ctx.data.sample_per_class(batch_real, ctx.generator)
    b = idx.shape[1]
    real = ctx.data.images[idx.flatten()]
    syn = images
    if dsa is not None:
        params = dsa.sample(ctx.num_classes, ctx.generator)
        real = dsa.apply(real, params, class_labels(ctx.num_classes, b, ctx.device))
        syn = dsa.apply(syn, params, class_labels(ctx.num_classes, len(images) // ctx.num_classes, ctx.device))
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
