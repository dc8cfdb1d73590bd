"""``python -m dd_tune.study NAME`` (``dd-tune study NAME``): search a method's hyperparameters,
re-evaluate, report.

Per IPC of the study: an Optuna (seeded TPE, sqlite) search run by Ray Tune with ASHA on the
distillation iteration, the method's reference defaults as the first point; then the best, the
default and random-real sets at the same IPC are re-evaluated on the test set on ConvNet and LeNet
with the fixed protocol, and ``report.md``/``report.json`` are written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from dd_tune.base.errors import ConfigError
from dd_tune.commands.common import (
    NOTHING_STARTED,
    RESUME_HINT,
    Parser,
    add_run_options,
    describe,
    print_reeval,
    resolved_yaml,
    run_cli,
    run_request,
)
from dd_tune.config import list_studies, parse_overrides
from dd_tune.methods.configs import load_study
from dd_tune.search.space import default_point
from dd_tune.tune import load_search_space, run_study


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.study") -> argparse.Namespace:
    p = Parser(
        prog=prog,
        description="Run a hyperparameter study (Ray Tune + Optuna) for a dataset distillation method, "
                    "then re-evaluate the best, default and random-real sets on ConvNet and LeNet.",
    )
    p.add_argument("study", nargs="?", help="study name (on the study search path) or a path to a study YAML")
    p.add_argument("--list", action="store_true", help="list the available studies and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the fully resolved study (after --profile, the preset and --set) and its search "
                        "space as YAML, then exit without starting Ray or writing anything")
    p.add_argument("--profile", default=None,
                   help="profile inside the study file: default (full, published budget; a machine without a GPU "
                        "needs --yes-cpu for it), quick, smoke")
    p.add_argument("--num-samples", type=int, default=None, help="number of trials per IPC")
    p.add_argument("--seed", type=int, default=None, help="study seed (sampler, trials, evaluation)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, e.g. --set distill.lr_img=2 (repeatable)")
    add_run_options(p, "study", "continue an interrupted study in --storage (finished trials kept, running "
                                "ones resumed from their checkpoints, the Optuna study continued)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.study") -> int:
    started: list[Path] = []  # the study directory, once it exists: only then is there anything to resume
    return run_cli(lambda: _main(parse_args(argv, prog), started),
                   on_interrupt=lambda: RESUME_HINT if started else NOTHING_STARTED)


def _main(args: argparse.Namespace, started: list[Path]) -> int:
    if args.list:
        for name in list_studies():
            print(f"{name:24s} {describe(load_study, name)}")
        return 0
    if not args.study:
        raise ConfigError(f"name a study; choose from {list_studies()} (or --list)")
    overrides = parse_overrides(args.overrides)
    if args.num_samples is not None:
        overrides.append(("search.num_samples", args.num_samples))
    if args.seed is not None:
        overrides.append(("seed", args.seed))
    study = load_study(args.study, args.profile or "default", overrides)
    space = load_search_space(study)
    for ipc in study.ipc:
        default_point(study, space, ipc)  # validates defaults against the space before anything runs
    if args.print_config:
        print(resolved_yaml(study, space), end="")
        return 0
    study_dir, result = run_study(study, space, run_request(args), started.append)
    print(f"\nreport: {study_dir / 'report.md'} (in a browser: {study_dir / 'report.html'})\n"
          f"tensorboard --logdir {study_dir / 'board'}  (the trials compared: defaults, chosen, finalists)")
    print_reeval(result.by_ipc)
    return 0
