"""One evaluation (train a fresh network on a synthetic set, then the test pass): dd_tune's loop vs the
authors' loop, same process, same seeds, interleaved, medians.

Reference = the authors' ``evaluate_synset``: one forward+backward per minibatch of 256 (the whole set
at IPC <= 25), the test set in batches of 256 through the network as trained (``nn.MaxPool2d``, standard
layout). dd_tune = the same protocol with forward+backward in 16-image slices on CPU for ConvNet
(gradient accumulated: the same gradient) and the test pass in 32-image chunks on CPU with
channels-last convolution weights and max pooling without argmax indices (``MaxPool2x2``). Both train
the same network from the same seed with the same DSA draws; the first step's gradients must agree
before anything is timed. (bench/test_pass.py isolates the test pass's two levers.)

Settings: MNIST shapes, ConvNet-3 (instance norm) and LeNet, IPC 1 and 10, SGD momentum 0.9 / wd 5e-4,
per-sample DSA; a short run of ``--epochs`` (the per-epoch cost is what a 300-1000 epoch run repeats).

``--stacked K`` also times K models trained at once (``dd_tune.stacked``: vmap over stacked parameters)
against the same K trained one by one with dd_tune's loop.

    DD_TUNE_DATA=.data python bench/evaluate.py [--threads 1] [--epochs 20] [--test-images 2000]
                                                [--stacked 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import run, with_torch_max_pool
from stacked import train_stacked

from dd_tune.base.allocator import steady_allocator
from dd_tune.core.augment import DSA
from dd_tune.core.datasets import DATASETS, resolve_data_root
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.core.splits import ClassIndexedData, load_test
from dd_tune.core.training import accuracies, heldout_subset, micro_batch_for, minibatch_step, resolve_device, train

SPEC = DATASETS.get("mnist")
DEVICE = torch.device("cpu")
PROTOCOL = dict(lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=256)


def synthetic(ipc: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(10 * ipc, 1, 28, 28, generator=g), torch.arange(10).repeat_interleave(ipc)
    return x.to(DEVICE), y.to(DEVICE)


def sync() -> float:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def check_gradients(arch: str, ipc: int) -> float:
    """Largest relative difference between the gradients of dd_tune's sliced step and the whole batch
    (``minibatch_step`` with an SGD of lr 0 leaves the accumulated gradients in ``.grad``)."""
    x, y = synthetic(ipc * 5)  # a batch larger than a slice
    grads = []
    for micro in (0, 16):
        net = build_model(model_spec_for(arch, SPEC), torch.Generator().manual_seed(0), DEVICE)
        minibatch_step(net, torch.optim.SGD(net.parameters(), lr=0.0), x, y, micro)
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    return float((grads[0] - grads[1]).abs().max() / grads[0].abs().max())


def authors_accuracy(net: torch.nn.Module, test: ClassIndexedData, limit: int) -> float:
    """The authors' test pass: batches of 256 through the network as trained, PyTorch's ``nn.MaxPool2d``
    (the same ``limit`` images as ``accuracies``)."""
    plain = with_torch_max_pool(net)
    images, labels = heldout_subset(test, limit)
    with torch.no_grad():
        hits = sum(int((plain(x).argmax(1) == y).sum()) for x, y in zip(images.split(256), labels.split(256)))
    return 100.0 * hits / len(labels)


def one_evaluation(arch: str, ipc: int, epochs: int, test: ClassIndexedData, limit: int,
                   reference: bool) -> tuple[float, float, float]:
    """(training seconds, test-pass seconds, accuracy) of one fresh model."""
    x, y = synthetic(ipc)
    g = torch.Generator(DEVICE).manual_seed(0)
    net = build_model(model_spec_for(arch, SPEC), g, DEVICE)
    micro = 0 if reference else micro_batch_for(net, DEVICE)
    t0 = sync()
    train(net, x, y, epochs=epochs, generator=g, dsa=DSA(SPEC.dsa_strategy, SPEC.size), micro=micro, **PROTOCOL)
    t1 = sync()
    acc = authors_accuracy(net, test, limit) if reference else accuracies(net, test, limit)[0]
    return t1 - t0, sync() - t1, acc


def k_models(arch: str, ipc: int, epochs: int, k: int, stacked: bool) -> float:
    """Seconds to train ``k`` fresh models (seeds 0..k-1) one by one with dd_tune's loop, or at once."""
    x, y = synthetic(ipc)
    gens = [torch.Generator(DEVICE).manual_seed(i) for i in range(k)]
    nets = [build_model(model_spec_for(arch, SPEC), g, DEVICE) for g in gens]
    dsa = DSA(SPEC.dsa_strategy, SPEC.size)
    t0 = sync()
    if stacked:
        train_stacked(nets, x, y, epochs=epochs, generators=gens, dsa=dsa, **PROTOCOL)
    else:
        for net, g in zip(nets, gens):
            train(net, x, y, epochs=epochs, generator=g, dsa=dsa, **PROTOCOL)
    return sync() - t0


def compare_stacked(arch: str, ipc: int, epochs: int, k: int, reps: int) -> None:
    k_models(arch, ipc, 1, k, False), k_models(arch, ipc, 1, k, True)  # warm-up
    runs = [(k_models(arch, ipc, epochs, k, False), k_models(arch, ipc, epochs, k, True)) for _ in range(reps)]
    alone, at_once = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    print(f"{arch:7s} IPC {ipc:2d}: {k} models one by one {alone:.2f} s, at once {at_once:.2f} s = "
          f"{alone / at_once:.2f}x", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--epochs", type=int, default=20, help="training epochs per evaluation (ConvNet; LeNet x5)")
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians are reported)")
    p.add_argument("--stacked", type=int, default=0, metavar="K", help="also time K models trained at once")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    steady_allocator()  # as in every dd_tune process, for both variants
    global DEVICE
    DEVICE = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    test = load_test("mnist", resolve_data_root(args.data_root), DEVICE)
    print(f"{DEVICE}, threads {args.threads}, test images {min(args.test_images, len(test))}, batch 256, "
          f"reference = the authors' loop")
    for arch in ("convnet", "lenet"):
        for ipc in (1, 10):
            rel = check_gradients(arch, ipc)
            if rel > 1e-4:
                raise SystemExit(f"{arch}: sliced and whole-batch gradients differ ({rel:.1e})")
            epochs = args.epochs * (5 if arch == "lenet" else 1)
            one_evaluation(arch, ipc, 1, test, 64, True), one_evaluation(arch, ipc, 1, test, 64, False)  # warm-up
            n = args.test_images
            runs = [(one_evaluation(arch, ipc, epochs, test, n, True),
                     one_evaluation(arch, ipc, epochs, test, n, False))
                    for _ in range(args.reps)]
            ref_train = statistics.median(r[0][0] for r in runs)
            our_train = statistics.median(r[1][0] for r in runs)
            ref_all = statistics.median(r[0][0] + r[0][1] for r in runs)
            our_all = statistics.median(r[1][0] + r[1][1] for r in runs)
            accs = [statistics.median(r[i][2] for r in runs) for i in (0, 1)]
            print(f"{arch:7s} IPC {ipc:2d} ({epochs + 1} epochs, gradient rel. diff {rel:.0e}): training "
                  f"{ref_train:.2f} s -> {our_train:.2f} s = {ref_train / our_train:.2f}x, whole evaluation "
                  f"{ref_all:.2f} s -> {our_all:.2f} s = {ref_all / our_all:.2f}x (accuracy {accs[0]:.2f} / "
                  f"{accs[1]:.2f} %)", flush=True)
    if args.stacked:
        print(f"training only, K = {args.stacked} fresh models, reference = dd_tune's loop one model at a time")
        for arch in ("convnet", "lenet"):
            for ipc in (1, 10):
                compare_stacked(arch, ipc, args.epochs * (5 if arch == "lenet" else 1), args.stacked, args.reps)


if __name__ == "__main__":
    run(main)
