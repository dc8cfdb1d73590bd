"""The test pass alone: dd_tune's (``accuracies``: 32-image chunks, channels-last copies of the
convolution weights, ``MaxPool2x2``) vs the same chunks through the network as trained with PyTorch's
``nn.MaxPool2d`` (dd_tune's test pass before those two levers), same process, interleaved, medians;
plus max pooling alone on 100 LeNet maps without autograd. The accuracies must agree (within one
flipped prediction).

    DD_TUNE_DATA=.data python bench/test_pass.py [--threads 1] [--reps 3] [--test-images 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import run, with_torch_max_pool

from dd_tune.base.allocator import steady_allocator
from dd_tune.core.datasets import DATASETS, resolve_data_root
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import MaxPool2x2, build_model
from dd_tune.core.splits import ClassIndexedData, load_test
from dd_tune.core.training import accuracies, heldout_subset


def plain_accuracy(net: torch.nn.Module, test: ClassIndexedData, limit: int) -> float:
    """Top-1 accuracy (%) of the same images in the same 32-image chunks, network as trained."""
    plain = with_torch_max_pool(net)
    images, labels = heldout_subset(test, limit)
    with torch.no_grad():
        hits = sum(int((plain(x).argmax(1) == y).sum()) for x, y in zip(images.split(32), labels.split(32)))
    return 100.0 * hits / len(labels)


def timed(fn) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def pool_ms(reps: int = 50) -> tuple[float, float]:
    """(``F.max_pool2d``, ``MaxPool2x2``) milliseconds for 100 maps of 6x28x28 (LeNet's first pooling)."""
    x = torch.relu(torch.randn(100, 6, 28, 28, generator=torch.Generator().manual_seed(0)))
    out = []
    with torch.no_grad():
        for f in (lambda: F.max_pool2d(x, 2, 2), lambda: MaxPool2x2()(x)):
            f()
            out.append(statistics.median(timed(f)[0] for _ in range(reps)) * 1e3)
    return out[0], out[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians are reported)")
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    steady_allocator()
    torch.set_num_threads(args.threads)
    test = load_test("mnist", resolve_data_root(args.data_root), torch.device("cpu"))
    n = min(args.test_images, len(test))
    print(f"cpu, threads {args.threads}, {n} MNIST test images, reference = the same chunks with nn.MaxPool2d, "
          f"standard layout")
    for arch in ("convnet", "lenet"):
        net = build_model(model_spec_for(arch, DATASETS.get("mnist")), torch.Generator().manual_seed(0))
        plain_accuracy(net, test, 256), accuracies(net, test, 256)  # warm-up
        runs = [(timed(lambda: plain_accuracy(net, test, n)), timed(lambda: accuracies(net, test, n)[0]))
                for _ in range(args.reps)]
        acc_before, acc_after = runs[0][0][1], runs[0][1][1]
        if abs(acc_before - acc_after) > 0.05:  # float rounding may flip a prediction, not more
            raise SystemExit(f"{arch}: the two test passes disagree ({acc_before:.2f} vs {acc_after:.2f} %)")
        before, after = (statistics.median(r[i][0] for r in runs) for i in (0, 1))
        print(f"{arch:7s}: {before:.2f} s -> {after:.2f} s = {before / after:.2f}x (accuracy {acc_before:.2f} / "
              f"{acc_after:.2f} %)", flush=True)
    ref, ours = pool_ms()
    print(f"max pooling, 100 x 6 x 28 x 28, no autograd: max_pool2d {ref:.2f} ms, MaxPool2x2 {ours:.2f} ms = "
          f"{ref / ours:.1f}x", flush=True)


if __name__ == "__main__":
    run(main)
