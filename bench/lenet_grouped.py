"""K LeNets trained at once by hand (grouped convolutions, ``bmm`` for the linear layers, one SGD over
the stacked tensors) vs the same K trained one by one, training steps only, same process: the CPU
experiment behind the README's "K at once does not pay for LeNet here" (the product does not use it).

Outputs of the grouped network must equal the K networks' before anything is timed. No augmentation:
both variants would draw it alike.

    python bench/lenet_grouped.py [--threads 1] [--k 10] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from common import run

from dd_tune.base.allocator import steady_allocator
from dd_tune.core.models import LeNet


class GroupedLeNets(torch.nn.Module):
    """K MNIST LeNets as one module: model k's convolutions are group k, its linear layers slice k."""

    def __init__(self, nets: list[LeNet]) -> None:
        super().__init__()

        def joined(name: str, stack: bool) -> torch.nn.Parameter:
            tensors = [dict(n.named_parameters())[name].detach() for n in nets]
            return torch.nn.Parameter(torch.stack(tensors) if stack else torch.cat(tensors))

        self.k = len(nets)
        self.w1, self.b1 = joined("features.0.weight", False), joined("features.0.bias", False)
        self.w2, self.b2 = joined("features.3.weight", False), joined("features.3.bias", False)
        self.fc = torch.nn.ParameterList([joined(f"head.{i}.{kind}", True) for i in (0, 2, 4)
                                          for kind in ("weight", "bias")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [K, B, 1, 28, 28] -> logits [K, B, 10]
        k, b = x.shape[:2]
        h = x.transpose(0, 1).reshape(b, k, 28, 28)
        h = F.max_pool2d(F.relu(F.conv2d(h, self.w1, self.b1, padding=2, groups=k)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, self.w2, self.b2, groups=k)), 2)
        h = h.reshape(b, k, -1).transpose(0, 1)
        for i in range(3):
            weight, bias = self.fc[2 * i], self.fc[2 * i + 1]
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            h = F.relu(h) if i < 2 else h
        return h


def sgd(params) -> torch.optim.SGD:
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)


def ms_per_step(step, steps: int) -> float:
    step(), step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    steady_allocator()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"cpu, threads {args.threads}, K = {args.k} LeNets, SGD steps on IPC x 10 images each")
    for ipc in (1, 10):
        nets = [LeNet(1, 10, (28, 28)) for _ in range(args.k)]
        x, y = torch.randn(args.k, 10 * ipc, 1, 28, 28), torch.arange(10).repeat_interleave(ipc)
        grouped = GroupedLeNets(nets)
        with torch.no_grad():
            err = float((grouped(x) - torch.stack([n(x[i]) for i, n in enumerate(nets)])).abs().max())
        if err > 1e-5:
            raise SystemExit(f"IPC {ipc}: the grouped network differs from the K networks ({err:.1e})")
        opts = [sgd(n.parameters()) for n in nets]
        grouped_opt = sgd(grouped.parameters())

        def alone() -> None:
            for net, opt, xs in zip(nets, opts, x):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(xs), y).backward()
                opt.step()

        def together() -> None:
            grouped_opt.zero_grad(set_to_none=True)
            # the sum of the K batch means: each model's slice gets its own gradient
            losses = F.cross_entropy(grouped(x).reshape(-1, 10), y.repeat(args.k), reduction="sum")
            (losses / len(y)).backward()
            grouped_opt.step()

        a, b = ms_per_step(alone, args.steps), ms_per_step(together, args.steps)
        print(f"IPC {ipc:2d}: one by one {a:.2f} ms, at once {b:.2f} ms = {a / b:.2f}x (outputs equal to {err:.0e})",
              flush=True)


if __name__ == "__main__":
    run(main)
