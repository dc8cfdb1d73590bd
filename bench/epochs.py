"""Accuracy against training epochs: how many epochs the evaluation protocol needs on a small set.

Trains ``--models`` fresh networks per architecture on each saved set (``python -m dd_tune.distill``
writes them) for every epoch count in ``--epochs``, with the evaluation protocol (SGD momentum 0.9,
lr x0.1 at half, DSA), and tests them on the **validation split** carved from the training set: the
epoch count is a protocol choice, so it is made without the test set. Prints one Markdown table.

    DD_TUNE_DATA=.data python bench/epochs.py SET.pt [SET.pt ...] [--epochs 50 100 200 300 500]
        [--models 2] [--archs convnet lenet] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from common import run

from dd_tune.base import seeds
from dd_tune.base.allocator import steady_allocator
from dd_tune.config import DataConfig, EvalConfig
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.evaluation import evaluate_synset
from dd_tune.core.splits import load_data
from dd_tune.core.synset import SynSet


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="+", type=Path, help="synset.pt files (same dataset)")
    p.add_argument("--epochs", type=int, nargs="+", default=[50, 100, 200, 300, 500])
    p.add_argument("--models", type=int, default=2, help="fresh networks per architecture and epoch count")
    p.add_argument("--archs", nargs="+", choices=["convnet", "lenet"], default=["convnet", "lenet"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    return p.parse_args()


def main() -> None:
    args = parse()
    steady_allocator()
    torch.set_num_threads(args.threads)
    sets = {path: SynSet.load(path) for path in args.sets}
    datasets = {s.dataset for s in sets.values()}
    if len(datasets) != 1:
        raise SystemExit(f"error: the sets come from several datasets ({sorted(datasets)}); give one")
    split = DataConfig()
    val = load_data(datasets.pop(), resolve_data_root(args.data_root), split.val_fraction, split.split_seed).val
    print(f"validation split: {len(val)} images; {args.models} models per cell; {args.threads} threads")
    print("| set | arch | " + " | ".join(f"{e} ep." for e in args.epochs) + " |")
    print("|---|---|" + "---:|" * len(args.epochs))
    for path, synset in sets.items():
        for arch in args.archs:
            cells = []
            for epochs in args.epochs:
                cfg = EvalConfig(epochs=epochs, models=args.models, archs=(arch,))
                t0 = time.time()
                # the same seed for every epoch count: the cells differ only in the epochs
                res = evaluate_synset(synset, cfg, val, seeds.generator(args.seed))[arch]
                spread = f" ± {statistics.stdev(res.runs):.2f}" if len(res.runs) > 1 else ""
                cells.append(f"{res.mean:.2f}{spread} ({time.time() - t0:.0f} s)")
            print(f"| {path.name} ({len(synset.labels)} images) | {arch} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    run(main)
