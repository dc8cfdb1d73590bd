"""One expert epoch with GSAM (PAD's experts) against one with plain SGD (MTT's), same process.

PAD trains 100 experts x 100 epochs with GSAM, which evaluates the gradient twice per minibatch; this
times both optimisers on the same network, data order and DSA draws (a fresh network per variant, the
generator re-seeded), so the ratio says what the expert stage of a PAD study costs over an MTT one,
and the GSAM epoch time times num_experts x epochs is that stage's wall time on one device.

    DD_TUNE_DATA=.data python bench/expert_epoch.py [--dataset cifar10] [--images 5000] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import run

from dd_tune.base.allocator import steady_allocator
from dd_tune.core.augment import DSA
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.core.splits import load_data
from dd_tune.core.training import resolve_device, run_epoch
from dd_tune.experts import ExpertConfig
from dd_tune.experts.trajectories import expert_optimizer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    steady_allocator()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--images", type=int, default=5000, help="training images per timed epoch (0 = the split)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians are reported)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data-root", default=None)
    a = p.parse_args()
    device = resolve_device(a.device)
    data = load_data(a.dataset, resolve_data_root(a.data_root), 0.1, 0, device=device)
    model = model_spec_for("convnet", data.spec)
    n = len(data.train) if a.images <= 0 else min(a.images, len(data.train))
    dsa = DSA(data.spec.dsa_strategy, data.spec.size)
    times: dict[str, list[float]] = {"sgd": [], "gsam": []}
    for rep in range(a.reps + 1):  # the first repetition warms up and is not counted
        for optimizer in ("sgd", "gsam"):
            gen = torch.Generator(device).manual_seed(rep)
            net = build_model(model, gen, device)
            opt = expert_optimizer(net, ExpertConfig(optimizer=optimizer))  # type: ignore[arg-type]
            order = torch.randperm(len(data.train), generator=gen, device=gen.device)[:n].to(device)
            sync(device)
            t0 = time.perf_counter()
            run_epoch(net, opt, data.train.images, data.train.labels, order, 256, dsa, gen)
            sync(device)
            if rep:
                times[optimizer].append(time.perf_counter() - t0)
    sgd, gsam = statistics.median(times["sgd"]), statistics.median(times["gsam"])
    per_image = gsam / n
    print(f"device {device}, threads {torch.get_num_threads()}, {a.dataset}, {n} images per epoch, batch 256")
    print(f"SGD epoch {sgd:.3f} s, GSAM epoch {gsam:.3f} s: GSAM costs {gsam / sgd:.2f}x")
    full = per_image * len(data.train)
    print(f"a GSAM epoch on the whole split ({len(data.train)} images): {full:.1f} s; 100 experts x 100 epochs: "
          f"{full * 100 * 100 / 3600:.1f} h on this device")


if __name__ == "__main__":
    run(main)
