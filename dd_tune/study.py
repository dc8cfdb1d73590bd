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
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from dd_tune import store
from dd_tune.cli import RESUME_HINT, add_run_options, prepare_run
from dd_tune.config import StudyConfig, list_studies, load_study, parse_overrides
from dd_tune.errors import ConfigError, ResourceError, StudyStateError
from dd_tune.data import train_class_counts
from dd_tune.schema import build, to_dict
from dd_tune.search_space import default_point, load_search_space, space_as_dict


@dataclasses.dataclass(frozen=True)
class Resources:
    cpu: float
    gpu: float

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


def resolve_resources(study: StudyConfig, visible_gpus: float, node_cpus: float | None = None) -> Resources:
    """``gpu: auto`` -> a GPU fraction where GPUs exist, else CPU; an explicit GPU need fails fast, and
    so does a per-trial CPU request larger than the largest Ray node (``node_cpus``).

    Ray would otherwise leave such trials PENDING forever.
    """
    r = study.resources
    if node_cpus is not None and r.cpu > node_cpus:
        raise ResourceError(f"study {study.name} requests resources.cpu: {r.cpu:g} per trial but the largest Ray "
                            f"node has {node_cpus:g} CPUs; use --set resources.cpu={max(1, int(node_cpus))} "
                            f"(or more --num-cpus)")
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


def check_ipcs(study: StudyConfig, space: Any, counts: Sequence[int]) -> None:
    """Every IPC the study may use fits the smallest class of its training split (``counts``)."""
    ipcs = set(study.ipc) | set(space["ipc"].choices if "ipc" in space and space["ipc"].type == "categorical"
                                else [int(space["ipc"].high)] if "ipc" in space else [])
    smallest = min(counts)
    if max(ipcs) > smallest:
        raise ConfigError(f"IPC {max(ipcs)} exceeds the smallest class of {study.dataset}'s training split "
                          f"({smallest} images); choose an IPC <= {smallest}")


def resolved_yaml(study: StudyConfig, space: Any) -> str:
    """The study as it will run (``--print-config``): every key resolved, plus its search space."""
    return yaml.safe_dump({**to_dict(study), "search_space": space_as_dict(space)}, sort_keys=False)


def _describe(name: str) -> str:
    try:
        return load_study(name).description.strip().splitlines()[0]
    except Exception as e:  # a broken study file still gets listed, with its problem
        return f"(invalid: {e})"


def _check_study_dir(study_dir: Path, study: StudyConfig, force: bool, resume: bool) -> None:
    """No silent overwrite: a finished or different study is refused; ``--force`` replaces only a study
    dd_tune created (:mod:`dd_tune.store`)."""
    store.check_owned(study_dir, "study", force, resume)
    if force or not study_dir.exists() or not store.owned(study_dir, "study"):
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
    """Top-level keys in which the study stored in ``study_dir`` differs from ``study``.

    ``study.json`` is read as data and checked against the study schema before anything is restored
    (the Ray Tune state a resume unpickles must come from a trusted storage: README, Safety)."""
    stored_file = study_dir / "study.json"
    if not stored_file.exists():  # interrupted before the study started: nothing to differ from
        return []
    try:
        stored = json.loads(stored_file.read_text())
        build(StudyConfig, stored, "", str(stored_file))
    except (ValueError, ConfigError) as e:
        raise StudyStateError(f"{stored_file} is not a dd_tune study record ({str(e).splitlines()[0][:200]}); "
                              f"--resume cannot continue it: pass --force to replace the study") from None
    current = json.loads(json.dumps(to_dict(study)))  # tuples -> lists, as stored
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def main(argv: Sequence[str] | None = None) -> int:
    from dd_tune.cli import NOTHING_STARTED, run_cli

    started: list[Path] = []  # the study directory, once it exists: only then is there anything to resume
    return run_cli(lambda: _main(argv, started), on_interrupt=lambda: RESUME_HINT if started else NOTHING_STARTED)


def _main(argv: Sequence[str] | None, started: list[Path]) -> int:
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

    resources: list[Resources] = []
    place = prepare_run(
        args, study.dataset,
        check_dir=lambda storage: _check_study_dir(store.locate(storage, study.name, "study"), study,
                                                   args.force, args.resume),
        check_data=lambda root: check_ipcs(study, space, train_class_counts(
            study.dataset, root, study.data.val_fraction, study.data.split_seed, study.data.max_train_per_class)),
        check_resources=lambda cpus, gpus: resources.append(resolve_resources(study, gpus, cpus)))
    study_dir = store.locate(place.storage, study.name, "study")
    from dd_tune.runner import StudyRunner

    store.create(study_dir, "study", replace=args.force)  # every check has passed
    started.append(study_dir)
    print(f"[dd_tune] study {study.name}: {'resuming' if args.resume else 'starting'} in {study_dir} "
          f"on {place.nodes} Ray node(s)", flush=True)
    runner = StudyRunner(study, space, study_dir, place.data_root, resources[-1])
    report = runner.run(resume=args.resume)
    print(f"\nreport: {study_dir / 'report.md'}\ntensorboard --logdir {study_dir}")
    for ipc, row in report["by_ipc"].items():
        for name, accs in row["reeval"].items():
            print(f"ipc {ipc} {name:12s} " + "  ".join(
                f"{arch} {a['mean']:.2f}±{a['std']:.2f}" for arch, a in accs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
