"""The one training loop: an epoch of optimiser steps (SGD, or GSAM around it) on (augmented) images,
the protocol's schedule around it, soft cross-entropy, and accuracy.

The evaluation protocol (``dd_tune.core.evaluation``), difficulty scoring (``experts.difficulty``) and expert
training (``experts.trajectories``) all train through :func:`run_epoch`; :func:`train` is the
protocol's schedule: E + 1 epochs, lr x0.1 once at epoch E // 2 + 1 with the optimiser re-created
(momentum reset, as the reference ``evaluate_synset``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from dd_tune.base.errors import ResourceError
from dd_tune.core.augment import DSA
from dd_tune.core.models import channels_last_input
from dd_tune.core.splits import ClassIndexedData


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """-sum softmax(target) * log_softmax(logits), averaged over the batch (DATM/PAD's soft labels)."""
    return -(F.softmax(target_logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1).mean()


def loss_for(labels: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Soft cross-entropy for logit labels ``[N, C]``, cross-entropy for class indices ``[N]``."""
    return soft_cross_entropy if labels.dim() == 2 else F.cross_entropy


# Measured on 2 CPU cores (bench/evaluate.py): a ConvNet step on 100-256 images is ~1.7x faster as
# forward+backward passes over 16-image slices whose activations stay in cache; LeNet is slower that way.
CPU_MICRO_BATCH = 16


def micro_batch_for(net: torch.nn.Module, device: torch.device) -> int:
    """Images per forward+backward slice of a minibatch (0 = the whole minibatch at once).

    Slicing is exact only when no layer mixes samples: a network with batch norm is never sliced.
    Only the CPU gains (a GPU wants large kernels), and only networks that declare a slice size.
    """
    if device.type != "cpu" or any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        return 0
    return int(getattr(net, "cpu_micro_batch", 0))


def minibatch_step(net: torch.nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
                   micro: int = 0) -> float:
    """One optimiser step on the batch-mean loss; with ``micro`` > 0 the gradient is accumulated over
    slices of ``micro`` images (the same gradient: each slice's summed loss is divided by the batch size).

    The gradient is computed by a closure handed to ``opt.step``: SGD calls it once, GSAM
    (:mod:`dd_tune.core.gsam`) twice, at the weights and at the perturbed weights."""
    loss_fn = loss_for(yb)

    def gradient() -> torch.Tensor:
        net.zero_grad(set_to_none=True)
        if micro <= 0 or len(yb) <= micro:
            loss = loss_fn(net(xb), yb)
            loss.backward()
            return loss.detach()
        total = torch.zeros((), device=xb.device)
        for xs, ys in zip(xb.split(micro), yb.split(micro)):
            part = loss_fn(net(xs), ys) * (len(ys) / len(yb))  # mean over the slice, weighted to the batch mean
            part.backward()
            total += part.detach()
        return total

    return float(opt.step(gradient))  # type: ignore[arg-type]


def run_epoch(net: torch.nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
              order: torch.Tensor, batch_size: int, dsa: DSA | None, generator: torch.Generator,
              micro: int | None = None) -> float:
    """One pass over ``images[order]`` in minibatches (per-sample DSA on each); mean training loss.

    ``micro``: slice size of each forward+backward (None = :func:`micro_batch_for` the network).
    """
    if micro is None:
        micro = micro_batch_for(net, images.device)
    total, n = 0.0, 0
    for idx in order.split(batch_size):
        xb = images[idx]
        if dsa is not None:
            xb = dsa(xb, generator)
        total += minibatch_step(net, opt, xb, labels[idx], micro) * len(idx)
        n += len(idx)
    return total / n


def train(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int, lr: float,
          momentum: float, weight_decay: float, batch_size: int, generator: torch.Generator,
          dsa: DSA | None, micro: int | None = None, decay_epoch: int | None = None) -> float:
    """Train ``net`` in place with the protocol's schedule; returns the last epoch's mean loss.

    ``micro``: see :func:`run_epoch` (0 forces whole minibatches, the plain loop). ``decay_epoch``: the
    first epoch at lr x0.1 (None: E // 2 + 1; the authors' protocol passes E // 2 + 2, dd_tune.core.protocols).
    """
    device = next(net.parameters()).device
    x, y = images.to(device), labels.to(device)
    micro = micro_batch_for(net, device) if micro is None else micro
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    decay_epoch = epochs // 2 + 1 if decay_epoch is None else decay_epoch
    last = float("nan")
    net.train()
    for epoch in range(epochs + 1):
        if epoch == decay_epoch:
            lr *= 0.1
            # re-created, so the momentum buffer is reset, as in the reference evaluate_synset
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        perm = torch.randperm(len(x), generator=generator, device=generator.device).to(device)
        last = run_epoch(net, opt, x, y, perm, batch_size, dsa, generator, micro)
    return last


def accuracy(net: torch.nn.Module, data: ClassIndexedData, limit: int = 0, chunk: int = 0) -> float:
    """Top-1 accuracy in % on ``data`` (see :func:`accuracies`)."""
    return accuracies(net, data, limit, chunk)[0]


def accuracies(net: torch.nn.Module, data: ClassIndexedData, limit: int = 0, chunk: int = 0) -> tuple[float, float]:
    """(top-1 accuracy, balanced accuracy = the mean of the per-class recalls) in % on ``data`` (the first
    ``limit`` images of a fixed shuffle if limit>0). Balanced accuracy is what an imbalanced test set
    (MHIST: 63 % one class) needs: always predicting the majority class scores 50 %, not 63 %.

    ``chunk`` 0 = auto: 32 images on CPU (activations stay in cache: ~1.7x faster on 2 cores than
    large batches), 1024 on GPU.
    """
    if chunk <= 0:
        chunk = 32 if data.device.type == "cpu" else 1024
    images, labels = heldout_subset(data, limit)
    net.eval()
    forward = inference_forward(net)
    hits = torch.zeros(data.num_classes, dtype=torch.long, device=labels.device)
    with torch.no_grad():
        for xb, yb in zip(images.split(chunk), labels.split(chunk)):
            hits += torch.bincount(yb[forward(xb).argmax(1) == yb], minlength=data.num_classes)
    counts = torch.bincount(labels, minlength=data.num_classes)
    present = counts > 0
    balanced = float((hits[present].double() / counts[present]).mean()) * 100.0
    return 100.0 * int(hits.sum()) / len(labels), balanced


def heldout_subset(data: ClassIndexedData, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The (images, labels) a test pass with ``limit`` counts: all of ``data``, or, for 0 < limit <
    len(data), the first ``limit`` of a fixed shuffle (the same images in every call)."""
    images, labels = data.images, data.labels
    if 0 < limit < len(labels):
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:limit]
        keep = keep.to(images.device)
        images, labels = images[keep], labels[keep]
    return images, labels


def inference_forward(net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net``'s forward for a test pass: on CPU with channels-last copies of its convolution weights and
    channels-last inputs, elsewhere ``net`` itself. ``net`` is left as it is (its training layout).

    Why: with oneDNN's channels-last convolutions (and ``MaxPool2x2``) a ConvNet test pass in 32-image
    chunks ran 1.18x faster on one core, 1.28x on two (10 000 MNIST images: 8.75 -> 7.43 s, 4.68 ->
    3.67 s; bench/test_pass.py); training is not faster that way, so only the test pass switches.
    """
    weights = {name: p for name, p in net.named_parameters() if p.dim() == 4}
    if not weights or next(iter(weights.values())).device.type != "cpu":
        return net
    swapped = {name: p.detach().contiguous(memory_format=torch.channels_last) for name, p in weights.items()}
    return lambda x: torch.func.functional_call(net, swapped, (channels_last_input(x),))


def resolve_device(name: str) -> torch.device:
    """``auto`` (a CUDA GPU when one is visible, else the CPU), ``cpu`` or ``cuda[:N]``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ResourceError(f"device {name!r} requested but no CUDA GPU is visible; use --device cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ResourceError(f"unknown device {name!r}; choose from ['auto', 'cpu', 'cuda']")
    return torch.device(name)
