"""Difficulty scores for PAD's data scheduler (docs/methods.md §4.1): EL2N (the dataclass default, and
the MNIST studies') or GraNd (the ``pad`` preset's, as PAD's index files).

A few networks are trained briefly on the training split (``dd_tune.core.training.train``, the loop every
training in dd_tune uses, with the protocol's schedule); each sample's score is averaged over them:

* EL2N  = ||softmax(f(x)) - onehot(y)||_2
* GraNd = ||grad of the loss w.r.t. the last layer||_2 = EL2N * sqrt(1 + ||h(x)||^2), h = the last
  layer's input (DeepCore's closed form for a linear last layer on h; 84-d for LeNet, not its 400-d
  conv features).

Rows are returned per class, ordered easy -> hard, as indices into the class-indexed training split;
per-class lengths come from the data (never a hard-coded 5 000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from dd_tune.config import EvalConfig, require
from dd_tune.core.models import ModelSpec, Network, build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.training import train


@dataclass(frozen=True)
class DifficultyConfig:
    score: Literal["el2n", "grand"] = "el2n"
    models: int = 10  # DeepCore's repeat
    epochs: int = 2  # "early in training": EL2N is read after a few epochs (0 = at initialisation)
    lr: float = 0.01
    batch_size: int = 256

    def __post_init__(self) -> None:
        require(self.models >= 1, "models", f"must be >= 1, got {self.models}")
        require(self.epochs >= 0, "epochs", f"must be >= 0, got {self.epochs}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")


def sample_scores(net: Network, images: torch.Tensor, labels: torch.Tensor, kind: str,
                  chunk: int = 512) -> torch.Tensor:
    """Per-sample EL2N or GraNd of one network (eval mode, no autograd)."""
    net.eval()
    out = []
    with torch.no_grad():
        for x, y in zip(images.split(chunk), labels.split(chunk)):
            h = net.penultimate(x)  # the last layer's input: 2048-d for ConvNet-3, 84-d for LeNet
            p = F.softmax(net.last_layer(h), dim=1)
            el2n = (p - F.one_hot(y, p.shape[1]).to(p.dtype)).norm(dim=1)
            out.append(el2n * torch.sqrt(1 + h.pow(2).sum(1)) if kind == "grand" else el2n)
    return torch.cat(out)


def difficulty_scores(data: ClassIndexedData, model: ModelSpec, cfg: DifficultyConfig,
                      generator: torch.Generator, dataset: str) -> torch.Tensor:
    """Scores of every sample of ``data`` averaged over ``cfg.models`` briefly trained networks."""
    protocol = EvalConfig()  # momentum and weight decay of the evaluation protocol, no augmentation
    total = torch.zeros(len(data), device=data.device)
    for _ in range(cfg.models):
        net = build_model(model, generator, data.device)
        if cfg.epochs > 0:  # the protocol's schedule: epochs + 1 passes, lr x0.1 after half
            train(net, data.images, data.labels, epochs=cfg.epochs, lr=cfg.lr, momentum=protocol.momentum,
                  weight_decay=protocol.weight_decay, batch_size=cfg.batch_size, generator=generator, dsa=None)
        total += sample_scores(net, data.images, data.labels, cfg.score)
    return total / cfg.models


def easy_to_hard(scores: torch.Tensor, data: ClassIndexedData) -> list[torch.Tensor]:
    """Per-class rows of indices into ``data``, ascending score (easy first)."""
    rows = []
    for c in range(data.num_classes):
        start, n = int(data.offsets[c]), int(data.counts[c])
        rows.append(start + torch.argsort(scores[start : start + n], stable=True))
    return rows
