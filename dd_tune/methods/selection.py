"""How a synthetic set starts: random real images, noise, or class centres (herding / k-centre greedy in
the embedding of a fresh or briefly trained ConvNet, the coreset baselines of the DC and DM papers),
optionally tiled for IDC's multi-formation (``factor`` > 1: each stored image holds ``factor²`` real
images, IDC's ``mix`` init).

The class-centre selection depends only on the data, the study seed and its settings, never on the
trial: every trial of a study starts from the same centres, computed once per process (a trial actor
reused for the next trial finds them in memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from dd_tune.base import seeds
from dd_tune.base.errors import ConfigError
from dd_tune.config import require
from dd_tune.core.augment import DSA
from dd_tune.core.coreset import SELECTIONS, select
from dd_tune.core.formation import mix_grouped
from dd_tune.core.models import Network, build_model
from dd_tune.core.training import train
from dd_tune.methods.base import DistillContext, init_images

INITS = ("real", "noise", *SELECTIONS)


@dataclass(frozen=True)
class SelectionConfig:
    """The embedding that class-centre initialisations (``init: herding | kcenter``) select in.

    The DC paper's baselines embed with a ConvNet trained on the whole training set; ``trained`` trains
    the study's ConvNet briefly (``train_epochs`` epochs of the evaluation protocol's SGD and DSA on the
    candidate pool), ``random`` uses it freshly initialised. ``pool`` caps the candidates per class (a
    seeded random subset; 0 = the whole class, as the papers).
    """

    embedding: Literal["random", "trained"] = "random"
    train_epochs: int = 2
    pool: int = 0

    def __post_init__(self) -> None:
        require(self.train_epochs >= 1, "train_epochs", f"must be >= 1, got {self.train_epochs}")
        require(self.pool >= 0, "pool", f"must be >= 0 (0 = the whole class), got {self.pool}")


_SELECTED: dict[tuple[Any, ...], torch.Tensor] = {}  # per process: (data, settings) -> chosen indices [C, k]


def candidate_pool(ctx: DistillContext, pool: int) -> list[torch.Tensor]:
    """Global indices of each class's candidates: the whole class when ``pool`` is 0, else ``pool``
    images drawn from it (all of a class that has fewer). Classes keep their own sizes: a pool is never
    cut to the smallest class's."""
    data = ctx.data
    if pool <= 0:
        return [torch.arange(int(start), int(start) + int(n), device=data.device)
                for start, n in zip(data.offsets, data.counts)]
    gen = seeds.generator(seeds.selection_seed(ctx.seed), ctx.device)
    if pool <= int(data.counts.min()):  # every class has that many: one vectorised draw
        return list(data.sample_per_class(pool, gen))
    return data.sample_each_class(pool, gen)


def embedding_network(ctx: DistillContext, cfg: SelectionConfig, pool: list[torch.Tensor]) -> Network:
    """The study's network, fresh (seeded by the study seed) or briefly trained on the candidate pool."""
    gen = seeds.generator(seeds.selection_seed(ctx.seed) + 1, ctx.device)
    net = build_model(ctx.model, gen, ctx.device)
    if cfg.embedding == "trained":
        flat = torch.cat(pool)
        x, y = ctx.data.images[flat], ctx.data.labels[flat]
        train(net, x, y, epochs=cfg.train_epochs - 1, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=256,
              generator=gen, dsa=DSA(ctx.dsa_strategy, ctx.dataset.size))
    return net.eval()


def class_centres(ctx: DistillContext, kind: str, cfg: SelectionConfig, k: int) -> torch.Tensor:
    """Global indices ``[C, k]`` of the training images ``kind`` selects per class, in the order chosen."""
    key = (id(ctx.data.images), ctx.data.images.data_ptr(), ctx.model, ctx.seed, kind, cfg, k)
    if key not in _SELECTED:
        pool = candidate_pool(ctx, cfg.pool)
        if k > min(len(p) for p in pool):
            raise ConfigError(f"init {kind} needs {k} images per class but the pool has {min(len(p) for p in pool)}")
        net = embedding_network(ctx, cfg, pool)
        with torch.no_grad():
            rows = []
            for c in range(ctx.num_classes):
                feats = torch.cat([net.embed(x) for x in ctx.data.images[pool[c]].split(256)])
                rows.append(pool[c][select(kind, feats, k)])
        _SELECTED[key] = torch.stack(rows)
    return _SELECTED[key]


def initial_images(ctx: DistillContext, init: str, factor: int = 1,
                   selection: SelectionConfig = SelectionConfig()) -> torch.Tensor:
    """``[C * ipc, ...]`` stored images: noise, or ``factor²`` real images per stored image (random or
    class centres), tiled by IDC's ``mix`` rule when ``factor`` > 1."""
    if init == "noise":
        return init_images(ctx, "noise")
    per_image = factor * factor
    need = ctx.ipc * per_image
    if need > int(ctx.data.counts.min()):
        raise ConfigError(f"ipc {ctx.ipc} x factor² {per_image} = {need} real images per class exceeds the smallest "
                          f"class of the training split ({int(ctx.data.counts.min())} images)")
    if init == "real":
        idx = ctx.data.sample_per_class(need, ctx.generator)
    elif init in SELECTIONS:
        idx = class_centres(ctx, init, selection, need)
    else:
        raise ConfigError(f"unknown init {init!r}; choose from {list(INITS)}")
    reals = ctx.data.images[idx.flatten()]
    return mix_grouped(reals, ctx.num_classes, ctx.ipc, factor) if factor > 1 else reals.clone()
