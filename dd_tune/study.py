"""``python -m dd_tune.study NAME``: search a method's hyperparameters, re-evaluate, report.

Per IPC of the study: an Optuna (seeded TPE, sqlite) search run by Ray Tune with ASHA on the
distillation iteration, the method's reference defaults as the first point; then the best, the
default and a random-real set at the same IPC are re-evaluated on the test set on ConvNet and LeNet
with the fixed protocol, and ``report.md``/``report.json`` are written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from dd_tune.cli import add_run_options, prepare_run
from dd_tune.config import StudyConfig, list_studies, load_study, parse_overrides
from dd_tune.errors import ConfigError, ResourceError, StudyStateError
from dd_tune.schema import to_dict
from dd_tune.search_space import default_point, load_search_space, space_as_dict


@dataclasses.dataclass(frozen=True)
class Resources:
    cpu: float
    gpu: float

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


def resolve_resources(study: StudyConfig, visible_gpus: float) -> Resources:
    """``gpu: auto`` -> a GPU fraction where GPUs exist, else CPU; an explicit GPU need fails fast.

    Ray would otherwise leave GPU trials PENDING forever on a machine without GPUs.
    """
    r = study.resources
    if r.gpu == "auto":
        return Resources(r.cpu, r.auto_gpu_fraction if visible_gpus > 0 else 0.0)
    if r.gpu > 0 and visible_gpus <= 0:
        raise ResourceError(
            f"study {study.name} requests gpu: {r.gpu} per trial but no GPU is visible to Ray; "
            f"use --set resources.gpu=auto (GPU when present, else CPU) or resources.gpu=0"
        )
    if r.gpu > visible_gpus:
        raise ResourceError(f"study {study.name} requests gpu: {r.gpu} per trial but only "
                            f"{visible_gpus:g} GPU(s) are visible")
    return Resources(r.cpu, float(r.gpu))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m dd_tune.study",
        description="Run a hyperparameter study (Ray Tune + Optuna) for a dataset distillation method, "
                    "then re-evaluate the best, default and random-real sets on ConvNet and LeNet.",
    )
    p.add_argument("study", nargs="?", help="study name (studies/<name>.yaml) or a path to a study YAML")
    p.add_argument("--list", action="store_true", help="list the available studies and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the fully resolved study (after --profile, the preset and --set) and its search "
                        "space as YAML, then exit without starting Ray or writing anything")
    p.add_argument("--profile", default="default",
                   help="profile inside the study file: default (full, published budget), quick, smoke")
    p.add_argument("--num-samples", type=int, default=None, help="number of trials per IPC")
    p.add_argument("--seed", type=int, default=None, help="study seed (sampler, trials, evaluation)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, e.g. --set distill.lr_img=2 (repeatable)")
    add_run_options(p, "study", "continue an interrupted study in --storage (finished trials kept, running "
                                "ones resumed from their checkpoints, the Optuna study continued)")
    return p.parse_args(argv)


def resolved_yaml(study: StudyConfig, space: Any) -> str:
    """The study as it will run (``--print-config``): every key resolved, plus its search space."""
    return yaml.safe_dump({**to_dict(study), "search_space": space_as_dict(space)}, sort_keys=False)


def _describe(name: str) -> str:
    try:
        return load_study(name).description.strip().splitlines()[0]
    except Exception as e:  # a broken study file still gets listed, with its problem
        return f"(invalid: {e})"


def _check_study_dir(study_dir: Path, study: StudyConfig, force: bool, resume: bool) -> None:
    """No silent overwrite: a finished or different study is refused; ``--force`` replaces it."""
    if force:
        return
    if not study_dir.exists():
        if resume:
            raise StudyStateError(f"--resume: there is no study at {study_dir}; run it without --resume")
        return
    if (study_dir / "report.json").exists():
        raise StudyStateError(f"{study_dir} already holds a finished study; pass --force to run it again "
                              f"or choose another --storage")
    if not resume:
        raise StudyStateError(f"{study_dir} holds an unfinished study; pass --resume to continue it, --force "
                              f"to replace it, or choose another --storage")
    differs = stored_config_diff(study_dir, study)
    if differs:
        raise StudyStateError(f"{study_dir} holds a different study (changed: {', '.join(differs)}); "
                              f"--resume continues only the same configuration; pass --force to replace it "
                              f"or choose another --storage")


def stored_config_diff(study_dir: Path, study: StudyConfig) -> list[str]:
    """Top-level keys in which the study stored in ``study_dir`` differs from ``study``."""
    stored_file = study_dir / "study.json"
    if not stored_file.exists():  # interrupted before the study started: nothing to differ from
        return []
    stored = json.loads(stored_file.read_text())
    current = json.loads(json.dumps(to_dict(study)))  # tuples -> lists, as stored
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def main(argv: Sequence[str] | None = None) -> int:
    from dd_tune.cli import RESUME_HINT, run_cli

    return run_cli(lambda: _main(argv), on_interrupt=RESUME_HINT)


def _main(argv: Sequence[str] | None) -> int:
    args = _parse_args(argv)
    if args.list:
        for name in list_studies():
            print(f"{name:24s} {_describe(name)}")
        return 0
    if not args.study:
        raise ConfigError(f"name a study; choose from {list_studies()} (or --list)")
    overrides = parse_overrides(args.overrides)
    if args.num_samples is not None:
        overrides.append(("search.num_samples", args.num_samples))
    if args.seed is not None:
        overrides.append(("seed", args.seed))
    study = load_study(args.study, args.profile, overrides)
    space = load_search_space(study)
    for ipc in study.ipc:
        default_point(study, space, ipc)  # validates defaults against the space before anything runs
    if args.print_config:
        print(resolved_yaml(study, space), end="")
        return 0

    place = prepare_run(args, study.dataset,
                        lambda storage: _check_study_dir(storage / study.name, study, args.force, args.resume))
    study_dir = place.storage / study.name
    resources = resolve_resources(study, place.gpus)
    from dd_tune.runner import StudyRunner

    if study_dir.exists() and args.force:  # every check has passed: replace the old study
        shutil.rmtree(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    print(f"[dd_tune] study {study.name}: {'resuming' if args.resume else 'starting'} in {study_dir} "
          f"on {place.nodes} Ray node(s)", flush=True)
    runner = StudyRunner(study, space, study_dir, place.data_root, resources)
    report = runner.run(resume=args.resume)
    print(f"\nreport: {study_dir / 'report.md'}\ntensorboard --logdir {study_dir}")
    for ipc, row in report["by_ipc"].items():
        for name, accs in row["reeval"].items():
            print(f"ipc {ipc} {name:12s} " + "  ".join(
                f"{arch} {a['mean']:.2f}±{a['std']:.2f}" for arch, a in accs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
