"""A study's random-real row under dd_tune's evaluation protocol and under the authors' (``dc``).

Draws the study's own random-real sets (the same draws its test pass makes: study seed, draw index) and
trains each with the study's own model seeds (``final_eval_seed``) under three protocols: the study's
(dd_tune's, at the profile's epochs — reproduces the row its report printed), dd_tune's at the authors'
1 000 epochs, and ``dc`` (the DC/DSA/DM ``evaluate_synset``: 1 000 epochs, the lr drop after epoch E//2+1,
DSA with flip). Tests once on the test split, as the study does. Prints one Markdown table: the draw as
the unit (mean of its models), mean ± std and 95 % interval over draws, and the paired dc − dd_tune
difference per (draw, model).

    DD_TUNE_DATA=.data python bench/protocols.py dm_mnist --profile quick [--archs convnet] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from common import run

from dd_tune.base import seeds
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.evaluation import evaluate_synset
from dd_tune.methods.configs import load_study
from dd_tune.records.stats import format_interval, paired_difference, summary
from dd_tune.search.setup import TrialSetup
from dd_tune.tune.sets import random_real_sets


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", help="a shipped study (its random-real draws and model seeds are used)")
    p.add_argument("--profile", default="quick")
    p.add_argument("--archs", nargs="+", choices=["convnet", "lenet"], default=["convnet"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-root", default=None)
    return p.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    study = load_study(args.study, args.profile)
    root = resolve_data_root(args.data_root)
    setup = TrialSetup(study, study.ipc[0], str(root), False, threads=args.threads)
    sets = random_real_sets(setup)
    test = setup.test()
    base = study.final_eval
    protocols = {f"dd_tune, {base.epochs} epochs (the study's)": base,
                 "dd_tune, 1000 epochs": dataclasses.replace(base, epochs=1000),
                 "dc (the authors' evaluate_synset), 1000 epochs": dataclasses.replace(base, epochs=1000,
                                                                                      protocol="dc")}
    runs: dict[tuple[str, str], dict[str, list[float]]] = {}
    for arch in args.archs:
        for label, cfg in protocols.items():
            t0 = time.time()
            per_draw: dict[str, list[float]] = {}
            for name, synset in sets.items():
                for k in range(base.models):
                    gen = seeds.generator(seeds.final_eval_seed(study.seed, arch, k), setup.device)
                    one = dataclasses.replace(cfg, archs=(arch,), models=1)
                    acc = evaluate_synset(synset, one, test, gen, study.model)[arch].runs[0]
                    per_draw.setdefault(name, []).append(acc)
            runs[(arch, label)] = per_draw
            print(f"{arch}, {label}: {time.time() - t0:.0f} s", flush=True)
    print(f"\n{study.name} ({args.profile}), IPC {study.ipc[0]}, random real: {len(sets)} draws x {base.models} "
          f"models; test accuracy (%), the draw as the unit:\n")
    print("| arch | protocol | per draw (mean of its models) | mean ± std [95 % interval] |\n|---|---|---|---|")
    for (arch, label), per_draw in runs.items():
        means = [statistics.fmean(v) for v in per_draw.values()]
        s = summary(means)
        print(f"| {arch} | {label} | {', '.join(f'{m:.2f}' for m in means)} | {s['mean']:.2f} ± {s['std']:.2f} "
              f"{format_interval(s['ci95']) if s['ci95'] else ''} |")
    for arch in args.archs:
        labels = [label for a, label in runs if a == arch]
        flat = {label: [acc for v in runs[(arch, label)].values() for acc in v] for label in labels}
        for label in labels[1:]:
            d = paired_difference(flat[label], flat[labels[0]])
            print(f"\n{arch}: {label} − {labels[0]} (paired by draw and model seed): {d['diff']:+.2f} "
                  f"{format_interval(d['ci95'])}")
        d = paired_difference(flat[labels[2]], flat[labels[1]])
        print(f"{arch}: dc − dd_tune at 1000 epochs (paired): {d['diff']:+.2f} {format_interval(d['ci95'])}")


if __name__ == "__main__":
    run(main)
