"""One evaluation (train a fresh network on a synthetic set, then the test pass): dd_tune's loop vs the
authors' loop, same process, same seeds, interleaved, medians.

Reference = the authors' ``evaluate_synset``: one forward+backward per minibatch of 256 (the whole set
at IPC <= 25), the test set in batches of 256. dd_tune = the same protocol with forward+backward in
16-image slices on CPU for ConvNet (gradient accumulated: the same gradient) and the test pass in
32-image chunks on CPU. Both train the same network from the same seed with the same DSA draws; the
first step's gradients must agree before anything is timed.

Settings: MNIST shapes, ConvNet-3 (instance norm) and LeNet, IPC 1 and 10, SGD momentum 0.9 / wd 5e-4,
per-sample DSA; a short run of ``--epochs`` (the per-epoch cost is what a 300-1000 epoch run repeats).

    DD_TUNE_DATA=.data python bench/evaluate.py [--threads 1] [--epochs 20] [--test-images 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dd_tune.augment import DSA
from dd_tune.data import DATASETS, ClassIndexedData, load_test, resolve_data_root
from dd_tune.evaluation import model_spec_for
from dd_tune.models import build_model
from dd_tune.training import accuracies, loss_for, micro_batch_for, train

SPEC = DATASETS.get("mnist")


def synthetic(ipc: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(10 * ipc, 1, 28, 28, generator=g), torch.arange(10).repeat_interleave(ipc)


def check_gradients(arch: str, ipc: int) -> float:
    """Largest relative difference between the sliced and the whole-batch gradient of one step."""
    x, y = synthetic(ipc * 5)  # a batch larger than a slice
    grads = []
    for micro in (0, 16):
        net = build_model(model_spec_for(arch, SPEC), torch.Generator().manual_seed(0))
        net.zero_grad()
        if micro:
            for xs, ys in zip(x.split(micro), y.split(micro)):
                (loss_for(ys)(net(xs), ys) * (len(ys) / len(y))).backward()
        else:
            loss_for(y)(net(x), y).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    return float((grads[0] - grads[1]).abs().max() / grads[0].abs().max())


def one_evaluation(arch: str, ipc: int, epochs: int, test: ClassIndexedData, limit: int,
                   reference: bool) -> tuple[float, float, float]:
    """(training seconds, test-pass seconds, accuracy) of one fresh model."""
    x, y = synthetic(ipc)
    g = torch.Generator().manual_seed(0)
    net = build_model(model_spec_for(arch, SPEC), g)
    micro = 0 if reference else micro_batch_for(net, torch.device("cpu"))
    t0 = time.perf_counter()
    train(net, x, y, epochs=epochs, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=256, generator=g,
          dsa=DSA(SPEC.dsa_strategy, SPEC.size), micro=micro)
    t1 = time.perf_counter()
    acc, _ = accuracies(net, test, limit, chunk=256 if reference else 0)
    return t1 - t0, time.perf_counter() - t1, acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--epochs", type=int, default=20, help="training epochs per evaluation (ConvNet; LeNet x5)")
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians are reported)")
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    test = load_test("mnist", resolve_data_root(args.data_root), torch.device("cpu"))
    print(f"cpu, threads {args.threads}, test images {min(args.test_images, len(test))}, batch 256, reference = the authors' loop")
    for arch in ("convnet", "lenet"):
        for ipc in (1, 10):
            rel = check_gradients(arch, ipc)
            if rel > 1e-4:
                raise SystemExit(f"{arch}: sliced and whole-batch gradients differ ({rel:.1e})")
            epochs = args.epochs * (5 if arch == "lenet" else 1)
            one_evaluation(arch, ipc, 1, test, 64, True), one_evaluation(arch, ipc, 1, test, 64, False)  # warm-up
            n = args.test_images
            runs = [(one_evaluation(arch, ipc, epochs, test, n, True), one_evaluation(arch, ipc, epochs, test, n, False))
                    for _ in range(args.reps)]
            ref_train = statistics.median(r[0][0] for r in runs)
            our_train = statistics.median(r[1][0] for r in runs)
            ref_all = statistics.median(r[0][0] + r[0][1] for r in runs)
            our_all = statistics.median(r[1][0] + r[1][1] for r in runs)
            print(f"{arch:7s} IPC {ipc:2d} ({epochs + 1} epochs, gradient rel. diff {rel:.0e}): training "
                  f"{ref_train:.2f} s -> {our_train:.2f} s = {ref_train / our_train:.2f}x, whole evaluation "
                  f"{ref_all:.2f} s -> {our_all:.2f} s = {ref_all / our_all:.2f}x", flush=True)


if __name__ == "__main__":
    main()
