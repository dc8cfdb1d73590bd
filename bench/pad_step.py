"""PAD's unrolled inner loop (docs/methods.md §4.3 steps 4-6): ours vs a naive unrolled implementation.

Ours (:meth:`PADDistiller.unroll`): one flat parameter vector, ``torch.func.functional_call`` on views
of it, one ``autograd.grad`` per step, the selected-parameter loss on the flat vectors.
Naive: the obvious per-layer version — a list of parameter tensors, ``autograd.grad`` over the list,
a per-layer update, and the loss assembled layer by layer (``torch.cat`` of the per-layer errors).

Same start/target parameters, same synthetic images and soft labels, same per-sample DSA draws (the
generator is re-seeded before each step); the losses must agree before anything is timed. Settings:
MNIST, ConvNet-3 instance norm, IPC 1 (10 images), syn_steps 10, expert_epochs' target = start plus a
fixed random displacement, loss-ranked selection with ratio 0.5, learnable alpha and soft labels.

    DD_TUNE_DATA=.data python bench/pad_step.py [--steps 5] [--syn-steps 10] [--ipc 1] [--device cpu|cuda]
        [--dataset cifar10]
"""

from __future__ import annotations

import torch
from common import parser, run, time_pair
from torch import nn

from dd_tune.core.augment import DSA
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.core.splits import load_data
from dd_tune.core.training import resolve_device, soft_cross_entropy
from dd_tune.methods import DistillContext
from dd_tune.methods.base import init_images
from dd_tune.methods.trajectory import FlatModel, kept_mask, trajectory_loss

RATIO, MODE = 0.5, "loss"


def ours(flat: FlatModel, start: torch.Tensor, target: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
         alpha: torch.Tensor, dsa: DSA, gen: torch.Generator, syn_steps: int) -> torch.Tensor:
    theta = start.clone().requires_grad_(True)
    for _ in range(syn_steps):
        out = flat(theta, dsa(x, gen))
        (grad,) = torch.autograd.grad(soft_cross_entropy(out, y), theta, create_graph=True)
        theta = theta - alpha * grad
    return trajectory_loss(theta, start, target, RATIO, MODE)


def naive(net: nn.Module, start: list[torch.Tensor], target: list[torch.Tensor], x: torch.Tensor,
          y: torch.Tensor, alpha: torch.Tensor, dsa: DSA, gen: torch.Generator, syn_steps: int) -> torch.Tensor:
    names = [n for n, _ in net.named_parameters()]
    params = [p.clone().requires_grad_(True) for p in start]
    for _ in range(syn_steps):
        out = torch.func.functional_call(net, dict(zip(names, params)), (dsa(x, gen),))
        grads = torch.autograd.grad(soft_cross_entropy(out, y), params, create_graph=True)
        params = [p - alpha * g for p, g in zip(params, grads)]
    e = torch.cat([((p - t) ** 2).flatten() for p, t in zip(params, target)])
    d = torch.cat([((s - t) ** 2).flatten() for s, t in zip(start, target)])
    keep = kept_mask(e, RATIO, MODE)
    return e[keep].sum() / d[keep].sum()


def main() -> None:
    p = parser(__doc__, ipc=1)
    p.add_argument("--syn-steps", type=int, default=10)
    a = p.parse_args()
    device = resolve_device(a.device)
    data = load_data(a.dataset, resolve_data_root(a.data_root), 0.1, 0, device=device)
    gen = torch.Generator(device).manual_seed(0)
    ctx = DistillContext(data.train, data.spec, model_spec_for("convnet", data.spec), a.ipc, gen,
                         data.spec.dsa_strategy)
    net = build_model(ctx.model, gen, device)
    flat = FlatModel(net)
    start = torch.cat([q.detach().flatten() for q in net.parameters()])
    target = start + 0.01 * torch.randn(start.shape, generator=gen, device=gen.device).to(device)
    images = init_images(ctx, "real").requires_grad_(True)
    labels = torch.randn(len(images), ctx.num_classes, generator=gen, device=gen.device).to(device)
    labels.requires_grad_(True)
    alpha = torch.tensor(0.01, device=device, requires_grad=True)
    dsa = DSA(data.spec.dsa_strategy, data.spec.size)
    start_l, target_l = list(flat.unflatten(start).values()), list(flat.unflatten(target).values())

    def run(which: str, seed: int) -> float:
        gen.manual_seed(seed)
        for t in (images, labels, alpha):
            t.grad = None
        if which == "ours":
            loss = ours(flat, start, target, images, labels, alpha, dsa, gen, a.syn_steps)
        else:
            loss = naive(net, start_l, target_l, images, labels, alpha, dsa, gen, a.syn_steps)
        loss.backward()
        return float(loss.detach())

    print(f"device {device}, threads {torch.get_num_threads()}, {a.dataset}, IPC {a.ipc}, syn_steps {a.syn_steps}")
    time_pair(device, a.steps, ("ours", lambda seed: run("ours", seed)),
              ("naive unrolled", lambda seed: run("naive", seed)))

if __name__ == "__main__":
    run(main)
