"""Shared set-up and timing for the step benchmarks (batched vs the reference, same process).

Both variants get the same network, real batches and siamese DSA draws (the generator is re-seeded
before each step and both draw in the same order); the loss must agree before anything is timed.
Steps are interleaved and medians reported, so drift in machine speed hits both variants alike.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from dd_tune.base.allocator import steady_allocator
from dd_tune.base.errors import DDTuneError
from dd_tune.core.augment import DSA, AugParams
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import MaxPool2x2, build_model, reinit_
from dd_tune.core.splits import load_data
from dd_tune.core.training import resolve_device
from dd_tune.methods import DistillContext
from dd_tune.methods.base import init_images
from dd_tune.methods.pixel import FreshNetwork, class_batches


@dataclass
class Bench:
    args: argparse.Namespace
    device: torch.device
    ctx: DistillContext
    dsa: DSA
    net: torch.nn.Module
    ref_net: torch.nn.Module
    images: torch.Tensor

    def batched_inputs(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Re-seed, fresh weights, then the product's class-grouped siamese batch."""
        self.ctx.generator.manual_seed(seed)
        reinit_(self.net, self.ctx.generator)
        real, syn, _ = class_batches(self.ctx, self.images, self.args.batch_real, self.dsa)
        return real, syn

    def reference_inputs(self, seed: int) -> tuple[torch.Tensor, AugParams]:
        """Re-seed, fresh weights, the same draws, but un-augmented real images + the DSA params."""
        self.ctx.generator.manual_seed(seed)
        reinit_(self.ref_net, self.ctx.generator)  # the same weights as the product's network
        idx = self.ctx.data.sample_per_class(self.args.batch_real, self.ctx.generator)
        params = self.dsa.sample(self.ctx.num_classes, self.ctx.generator)
        return self.ctx.data.images[idx.flatten()], params.to(torch.device("cpu"))

    def backward(self, loss: torch.Tensor) -> float:
        self.images.grad = None
        loss.backward()
        return float(loss.detach())


def parser(description: str, ipc: int) -> argparse.ArgumentParser:
    """The options every step benchmark takes; callers add their own before parsing."""
    steady_allocator()  # as in every dd_tune process; for both variants
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5,
                   help="timed steps per variant, in blocks of 2 after 2 untimed ones (medians are reported)")
    p.add_argument("--ipc", type=int, default=ipc)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data-root", default=None)
    p.add_argument("--dataset", default="mnist",
                   help="mnist, fashionmnist, cifar10, cifar100 (its files in the data root)")
    return p


def setup(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None,
          norm: Callable[[argparse.Namespace], str | None] = lambda args: None) -> Bench:
    """Parse the options (``extra`` adds a benchmark's own), load the dataset, build both networks; ``norm``
    picks the networks' normalisation from the options (None: the dataset's default ConvNet)."""
    p = parser(description, ipc=10)
    p.add_argument("--batch-real", type=int, default=256)
    if extra is not None:
        extra(p)
    args = p.parse_args()
    device = resolve_device(args.device)
    data = load_data(args.dataset, resolve_data_root(args.data_root), 0.1, 0, device=device)
    spec = data.spec
    model = model_spec_for("convnet", spec)
    if norm(args) is not None:
        model = dataclasses.replace(model, norm=norm(args))
    ctx = DistillContext(data.train, spec, model, args.ipc, torch.Generator(device).manual_seed(0),
                         spec.dsa_strategy)
    net = FreshNetwork(model, ctx.generator, device).net  # the product's network (channels-last on CPU)
    # the reference's: standard layout, as the authors' networks
    ref_net = build_model(model, ctx.generator, device)
    for prm in ref_net.parameters():
        prm.requires_grad_(False)
    images = init_images(ctx, "real").requires_grad_(True)
    return Bench(args, device, ctx, DSA(spec.dsa_strategy, spec.size), net, ref_net, images)


def compare(bench: Bench, batched: Callable[[int], float], reference: Callable[[int], float],
            reference_name: str = "per-class reference", tolerance: float = 1e-4) -> None:
    a = bench.args
    print(f"device {bench.device}, threads {torch.get_num_threads()}, {a.dataset}, IPC {a.ipc}, "
          f"batch_real {a.batch_real}")
    time_pair(bench.device, a.steps, ("batched", batched), (reference_name, reference), tolerance)


SETTLE = 2  # untimed steps before a variant's timed ones (see time_pair)


def time_pair(device: torch.device, steps: int, ours: tuple[str, Callable[[int], float]],
              reference: tuple[str, Callable[[int], float]], tolerance: float = 1e-4) -> float:
    """Check that both step functions (seed -> loss) give the same loss, then time them in alternating
    blocks; prints and returns the speed-up of ``ours`` over ``reference`` (medians of the timed steps).

    A block is ``SETTLE`` untimed steps of one variant, then two timed ones. A step right after the
    other variant pays for that variant's memory state (on CPU the allocator re-faulting hundreds of
    MB): a batched DataDAM step took 1.27, 1.12, 0.99, 0.88 s in the steps after one reference step,
    0.93 s in a run of its own. A study runs one variant step after step, which the timed steps see.
    """
    (name_o, fn_o), (name_r, fn_r) = ours, reference
    lo, lr = fn_o(0), fn_r(0)
    rel = abs(lo - lr) / abs(lr)
    print(f"loss {name_o} {lo:.6f} {name_r} {lr:.6f} (relative difference {rel:.2e})")
    if rel > tolerance:
        raise SystemExit(f"{name_o} and {name_r} losses differ")

    def timed(fn: Callable[[int], float], seed: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn(seed)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    def block(fn: Callable[[int], float], seed: int) -> list[float]:
        for k in range(SETTLE):
            fn(seed + 50_000 + k)
        return [timed(fn, seed), timed(fn, seed + 1)]

    times_r: list[float] = []
    times_o: list[float] = []
    for r in range(max(1, (steps + 1) // 2)):
        order = [(fn_r, times_r), (fn_o, times_o)]
        for fn, out in order if r % 2 == 0 else order[::-1]:  # neither variant always goes first
            out.extend(block(fn, 100 + 2 * r))
    steps = len(times_r)
    tr, to = statistics.median(times_r), statistics.median(times_o)
    width = max(len(name_o), len(name_r)) + 1
    print(f"{name_r + ':':{width}s} {tr * 1000:.0f} ms/step (median of {steps}, each after {SETTLE} untimed)")
    print(f"{name_o + ':':{width}s} {to * 1000:.0f} ms/step")
    print(f"speed-up: {tr / to:.2f}x")
    return tr / to


def run(main: Callable[[], None]) -> None:
    """A benchmark's entry point: bad input (no GPU for --device cuda, missing data) ends in one line."""
    try:
        main()
    except DDTuneError as e:
        raise SystemExit(f"error: {e}") from None


def with_torch_max_pool(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``net`` in eval mode with PyTorch's ``nn.MaxPool2d`` where dd_tune has ``MaxPool2x2``
    (the authors' networks; the same values, computed with argmax indices)."""
    plain = copy.deepcopy(net).eval()
    for module in list(plain.modules()):
        for name, child in module.named_children():
            if isinstance(child, MaxPool2x2):
                module._modules[name] = torch.nn.MaxPool2d(2, 2)
    return plain
