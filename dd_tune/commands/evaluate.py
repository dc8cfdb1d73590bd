"""``python -m dd_tune.evaluate SYNSET.pt`` (``dd-tune evaluate SYNSET.pt``): re-evaluate a saved set
on the real test set with the fixed protocol (``dd_tune.core.evaluation``)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Sequence

from dd_tune.base import seeds
from dd_tune.base.atomic import atomic_write_text
from dd_tune.base.errors import ConfigError
from dd_tune.commands.common import Parser, run_cli
from dd_tune.commands.outputs import check_writable_file
from dd_tune.config import EvalConfig
from dd_tune.core.datasets import DATASETS, resolve_data_root, user_cache_root
from dd_tune.core.evaluation import evaluate_synset
from dd_tune.core.protocols import PROTOCOLS
from dd_tune.core.protocols import describe as describe_protocol
from dd_tune.core.splits import load_test
from dd_tune.core.synset import SynSet
from dd_tune.core.training import resolve_device
from dd_tune.core.zca import dataset_whitening


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.evaluate") -> argparse.Namespace:
    p = Parser(
        prog=prog,
        description="Re-evaluate a saved synthetic set on the real test set with the fixed protocol.",
    )
    p.add_argument("synset", help="path to a synset.pt written by dd_tune")
    p.add_argument("--models", nargs="+", default=["convnet", "lenet"], choices=["convnet", "lenet"],
                   help="architectures to train (default: convnet lenet)")
    p.add_argument("--runs", type=int, default=5, help="fresh models per architecture (default 5)")
    p.add_argument("--epochs", type=int, default=1000, help="training epochs (default 1000)")
    p.add_argument("--lr", type=float, default=0.01, help="lr when the set has no learned one (0.01)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="dd_tune",
                   help="dd_tune (default: lr x0.1 before epoch E//2+1, no flip on digits) or dc (the DC/DSA/DM "
                        "authors' evaluate_synset: x0.1 after it, DSA with flip on every dataset)")
    p.add_argument("--ignore-learned-lr", action="store_true", help="always use --lr")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation generator")
    p.add_argument("--data-root", default=None, help="dataset root (default: $DD_TUNE_DATA or cache)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.evaluate") -> int:
    return run_cli(lambda: _main(parse_args(argv, prog)))


def _main(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.epochs < 1 or not (0 < args.lr < math.inf) or not 0 <= args.seed < 2**32:
        raise ConfigError(f"--runs and --epochs must be >= 1, --lr finite and > 0 and --seed in [0, 2^32); got "
                          f"{args.runs}, {args.epochs}, {args.lr}, {args.seed}")
    synset = SynSet.load(args.synset)
    device = resolve_device(args.device)
    root = resolve_data_root(args.data_root)
    # before the training, not after it: never the set, a dataset file, or another name of either
    check_writable_file(args.json, "--json", [args.synset, root])
    # a whitened set (data.zca) is tested on the test split whitened with its dataset's transform, cached in
    # dd_tune's own per-user cache (nothing is written beside the user's data)
    cache = user_cache_root().parent / "zca"
    whitening = dataset_whitening(DATASETS.get(synset.dataset), root, cache) if synset.zca else None
    test = load_test(synset.dataset, root, device, whitening)
    cfg = EvalConfig(epochs=args.epochs, models=args.runs, lr=args.lr, archs=tuple(args.models),
                     protocol=args.protocol)
    print(describe_protocol(cfg, DATASETS.get(synset.dataset), synset.zca), flush=True)
    results = evaluate_synset(synset, cfg, test, seeds.generator(args.seed, device),
                              use_learned_lr=not args.ignore_learned_lr, progress=lambda m: print(m, flush=True))
    for arch, r in results.items():
        spread = f" ± {r.std:.2f} % over {len(r.runs)} models" if len(r.runs) > 1 else " % (one model: no spread)"
        print(f"{arch}: {r.mean:.2f}{spread}")
    if args.json:
        # a new file renamed into place: a hard link named --json is replaced, never written through
        atomic_write_text(Path(args.json), json.dumps({arch: r.to_dict() for arch, r in results.items()}, indent=2))
    return 0
