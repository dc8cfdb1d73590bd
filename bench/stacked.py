"""K fresh networks trained at once: parameters stacked along a new leading dimension and one
``torch.func.vmap`` over the models per step (the forward of K networks becomes grouped kernels).

Each model keeps its own generator and draws exactly what :func:`dd_tune.core.training.train` draws with it,
in the same order (its init before, then per epoch a permutation and per minibatch one DSA operation and
its per-sample parameters), so model k trained here is model k trained alone, up to the summation order
of the grouped kernels. SGD (momentum, weight decay) is elementwise, so one optimiser over the stacked
tensors is K independent optimisers; the loss is the sum of the K batch means, whose gradient w.r.t.
model k's slice is model k's own gradient.

Why it exists: on a GPU a 10-image step leaves the device idle, and K models fill it. On a CPU the
grouped kernels are not faster (bench/evaluate.py --stacked measures it), so the product trains one
model at a time there.
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from dd_tune.core.augment import DSA, AugParams
from dd_tune.core.training import loss_for


def _stack(nets: list[torch.nn.Module]) -> tuple[torch.nn.Module, dict, dict]:
    params, buffers = stack_module_state(nets)  # leaf tensors [K, ...] that require grad
    base = copy.deepcopy(nets[0]).to("meta")  # the structure only: functional_call supplies the tensors
    return base, params, buffers


def _augmented(images: torch.Tensor, idx: torch.Tensor, dsa: DSA | None,
               generators: list[torch.Generator]) -> torch.Tensor:
    """``[K, B, ...]``: model k's minibatch ``images[idx[k]]`` with model k's own DSA draw (one operation
    per model, parameters per sample), all K augmented in one call."""
    K, B = idx.shape
    x = images[idx.flatten()]
    if dsa is not None:
        drawn = [dsa.sample(B, g, one_op=True) for g in generators]
        x = dsa.apply(x, AugParams(**{k: torch.cat([getattr(d, k) for d in drawn]) for k in drawn[0].__dict__}))
    return x.view(K, B, *images.shape[1:])


def train_stacked(nets: list[torch.nn.Module], images: torch.Tensor, labels: torch.Tensor, *, epochs: int,
                  lr: float, momentum: float, weight_decay: float, batch_size: int,
                  generators: list[torch.Generator], dsa: DSA | None) -> list[float]:
    """Train ``nets`` (same architecture, each with its own generator) in place with the protocol's
    schedule (:func:`dd_tune.core.training.train`); returns each model's last-epoch mean loss."""
    if len(nets) != len(generators):
        raise ValueError("one generator per network")
    if any(True for _ in nets[0].buffers()):
        # batch norm's running statistics would need per-model in-place updates under vmap
        raise ValueError("networks with buffers (batch norm) are not supported; train them one by one")
    device = images.device
    base, params, buffers = _stack(nets)
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))
    loss_fn = loss_for(labels)
    per_model = vmap(loss_fn)  # [K, B, C] logits, [K, B] targets -> K batch means

    def sgd(step: float) -> torch.optim.SGD:
        return torch.optim.SGD(list(params.values()), lr=step, momentum=momentum, weight_decay=weight_decay)

    opt, decay_epoch = sgd(lr), epochs // 2 + 1
    last = torch.full((len(nets),), float("nan"))
    for epoch in range(epochs + 1):
        if epoch == decay_epoch:
            lr *= 0.1
            opt = sgd(lr)  # momentum reset, as train()
        perms = torch.stack([torch.randperm(len(images), generator=g, device=g.device).to(device)
                             for g in generators])
        total = torch.zeros(len(nets), device=device)
        for idx in perms.split(batch_size, dim=1):
            losses = per_model(forward(params, buffers, _augmented(images, idx, dsa, generators)), labels[idx])
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
            total += losses.detach() * idx.shape[1]
        last = total / len(images)
    _unstack(nets, params)
    return [float(v) for v in last.cpu()]


def _unstack(nets: list[torch.nn.Module], params: dict[str, torch.Tensor]) -> None:
    """Copy model k's slice of every stacked tensor back into ``nets[k]``."""
    with torch.no_grad():
        for k, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][k])
