"""Batched DM step vs the per-class reference loop (methods.md §2.1), same process, same seeds.

Settings: MNIST, IPC 10, batch_real 256, ConvNet-3 (instance norm), DSA without flip. Both variants
see the same network, the same real batches and the same siamese DSA draws; the script checks that
they compute the same loss, then times full steps (forward, backward, SGD on the pixels).

    DD_TUNE_DATA=.data python bench/dm_step.py [--steps 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dd_tune.data import load_data, resolve_data_root
from dd_tune.evaluate import model_spec_for, resolve_device
from dd_tune.methods import DistillContext
from dd_tune.methods.base import class_batches, class_labels, init_images
from dd_tune.methods.dm import class_mean_distance, embed_no_grad
from dd_tune.methods.reference import dm_loss_per_class
from dd_tune.augment import DSA
from dd_tune.models import build_model, reinit_


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--batch-real", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    device = resolve_device(args.device)
    data = load_data("mnist", resolve_data_root(args.data_root), 0.1, 0, device=device)
    spec = data.spec
    C = spec.num_classes
    ctx = DistillContext(data.train, spec, model_spec_for("convnet", spec), args.ipc,
                         torch.Generator(device).manual_seed(0), spec.dsa_strategy)
    dsa = DSA(spec.dsa_strategy, spec.size)
    net = build_model(ctx.model, ctx.generator, device)
    for prm in net.parameters():
        prm.requires_grad_(False)
    images = init_images(ctx, "real").requires_grad_(True)

    def batched_step(seed: int) -> float:
        ctx.generator.manual_seed(seed)
        reinit_(net, ctx.generator)
        real, syn, _ = class_batches(ctx, images, args.batch_real, dsa)
        loss = class_mean_distance(embed_no_grad(net, real), net.embed(syn), C)
        images.grad = None
        loss.backward()
        return float(loss.detach())

    def reference_step(seed: int) -> float:
        # identical draws (network, batch indices, DSA parameters), then the per-class loop
        ctx.generator.manual_seed(seed)
        reinit_(net, ctx.generator)
        idx = ctx.data.sample_per_class(args.batch_real, ctx.generator)
        params = dsa.sample(C, ctx.generator)
        real = ctx.data.images[idx.flatten()]
        loss = dm_loss_per_class(net, real, images, C, dsa, params.to(torch.device("cpu")))
        images.grad = None
        loss.backward()
        return float(loss.detach())

    lb, lr = batched_step(0), reference_step(0)
    rel = abs(lb - lr) / abs(lr)
    print(f"loss batched {lb:.6f} reference {lr:.6f} (relative difference {rel:.2e})")
    assert rel < 1e-4, "batched and reference DM losses differ"

    def timed(fn, seed: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn(seed)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    reference_step(1), batched_step(1)  # warm-up
    # interleaved, medians: machine-speed drift hits both variants alike
    pairs = [(timed(reference_step, 100 + s), timed(batched_step, 100 + s)) for s in range(args.steps)]
    tr = statistics.median(p[0] for p in pairs)
    tb = statistics.median(p[1] for p in pairs)
    print(f"device {device}, threads {torch.get_num_threads()}, IPC {args.ipc}, batch_real {args.batch_real}")
    print(f"per-class reference: {tr * 1000:.0f} ms/step (median of {args.steps})")
    print(f"batched:             {tb * 1000:.0f} ms/step")
    print(f"speed-up: {tr / tb:.2f}x")


if __name__ == "__main__":
    main()
