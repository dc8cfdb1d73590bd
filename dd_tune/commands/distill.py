"""``python -m dd_tune.distill STUDY`` (``dd-tune distill STUDY``): run the study's method once, without
a search.

Uses the same config system as the study (study file + profile + ``--set``) and writes the synthetic
set (``.pt`` + ``.png``); evaluate it with ``python -m dd_tune.evaluate``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from dd_tune.base.errors import ConfigError
from dd_tune.commands.common import Parser, run_cli
from dd_tune.commands.outputs import check_derived_files, check_writable_file
from dd_tune.config import parse_overrides, to_dict, user_path
from dd_tune.core.datasets import resolve_data_root
from dd_tune.core.training import resolve_device
from dd_tune.methods import budget_free
from dd_tune.methods.configs import load_study
from dd_tune.search.setup import TrialSetup, make_distiller


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.distill") -> argparse.Namespace:
    p = Parser(prog=prog,
                                description="Distil a synthetic set once with a study's method and config.")
    p.add_argument("study", help="study name (on the study search path) or a path to a study YAML")
    p.add_argument("--profile", default="default", help="profile inside the study file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, e.g. --set distill.iterations=500 (repeatable)")
    p.add_argument("--ipc", type=int, default=None, help="images per class (default: the study's first)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the study's)")
    p.add_argument("--out", default="synset.pt", help="output file (default synset.pt; a .png is written beside)")
    p.add_argument("--also-at", type=int, nargs="+", default=[], metavar="N",
                   help="also write the set as it was after N iterations (<out>_it<N>.pt, .png), from the same "
                        "run: for methods whose run does not depend on its budget (DM, DataDAM), where this is "
                        "the set an N-iteration run would give")
    p.add_argument("--data-root", default=None, help="dataset root (default: $DD_TUNE_DATA or cache)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--force", action="store_true",
                   help="replace the files written beside --out (its .png, the --also-at sets) when they exist")
    p.add_argument("--experts-dir", default=None,
                   help="expert-trajectory cache for trajectory matching, trained on demand "
                        "(default: <data root>/../experts)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.distill") -> int:
    return run_cli(lambda: _main(parse_args(argv, prog)))


def _main(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.overrides)
    if args.seed is not None:
        overrides.append(("seed", args.seed))
    if args.ipc is not None:
        if args.ipc < 1:
            raise ConfigError(f"--ipc must be >= 1, got {args.ipc}")
        overrides.append(("ipc", [args.ipc]))
    study = load_study(args.study, args.profile, overrides)
    out = Path(args.out)
    data_root = resolve_data_root(args.data_root)
    # every file this run writes, checked before the distillation: --out (named: replaced), and what is
    # written beside it (its preview, the --also-at sets and theirs: refused where they exist, unless --force)
    check_writable_file(args.out, "--out", [data_root])
    if out.suffix != ".pt":
        raise ConfigError(f"--out {args.out}: name a .pt file (a .png preview is written beside it)")
    stops = _stops(args.also_at, study)
    check_derived_files(_derived(out, stops), "--out", args.force, [data_root])
    device = resolve_device(args.device)
    experts_dir = user_path(args.experts_dir, "--experts-dir") if args.experts_dir else data_root.parent / "experts"
    setup = TrialSetup(study, study.ipc[0], str(data_root), device.type == "cuda",
                       threads=torch.get_num_threads(), experts_dir=str(experts_dir), compute_experts=True)
    distiller, _ = make_distiller(setup, {}, 0)
    t0 = time.time()
    with tqdm(total=distiller.total_iterations, desc=f"{study.method} ipc {setup.ipc}", unit="it") as bar:
        for stop in [*stops, distiller.total_iterations]:
            def advance(it: int, metrics: dict[str, float]) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4g}")

            distiller.run(stop - distiller.iteration, callback=advance)
            path = out if stop == distiller.total_iterations else out.with_name(f"{out.stem}_it{stop}.pt")
            synset = distiller.synset()
            synset.meta.update({"config": {**to_dict(study.distill), "iterations": stop}, "study": study.name,
                                "seconds": time.time() - t0})
            synset.save(path)
            synset.save_png(path.with_suffix(".png"), whitening=setup.whitening())
            tqdm.write(f"wrote {path} and {path.with_suffix('.png')} ({time.time() - t0:.0f} s)")
    return 0


def _derived(out: Path, stops: Sequence[int]) -> list[Path]:
    """The files written beside ``--out``: its preview, and each ``--also-at`` set with its preview."""
    sets = [out.with_name(f"{out.stem}_it{stop}.pt") for stop in stops]
    return [out.with_suffix(".png"), *sets, *(p.with_suffix(".png") for p in sets)]


def _stops(also_at: Sequence[int], study: Any) -> list[int]:
    """The ``--also-at`` iteration counts, ascending, checked against the budget and the method."""
    total = int(getattr(study.distill, "iterations", 0))
    bad = [n for n in also_at if not 0 <= n < total]
    if bad:
        raise ConfigError(f"--also-at {bad}: each must be in [0, {total}) (the run's iterations)")
    if also_at and not budget_free(study.method, study.distill):
        raise ConfigError(f"--also-at: a {study.method} run with this configuration depends on its budget (a "
                          f"schedule over its iterations), so its set after N iterations is not an N-iteration "
                          f"run's; distil each budget with --set distill.iterations=N instead")
    return sorted(set(also_at))
