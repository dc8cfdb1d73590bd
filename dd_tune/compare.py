"""``python -m dd_tune.compare SUITE``: DM, DataDAM and PAD on one dataset, one protocol, one report.

A suite (``studies/suites/<name>.yaml``) lists studies and what they must share: the IPCs, the search
budget (trials per IPC), the evaluation protocol (``final_eval``/``proxy_eval``), the seed, and the
init variants (noise vs real at the tuned hyperparameters). Each study runs as it would alone, into
``<storage>/<suite>/<study>/`` (expert trajectories shared in ``<storage>/<suite>/experts``); then
``compare.md``/``compare.json`` put default vs tuned accuracy, random real, init variants, wall time,
CPU/GPU-seconds and FLOPs side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from dd_tune.cli import add_run_options
from dd_tune.config import STUDIES_DIR, StudyConfig, apply_profile, load_study
from dd_tune import store
from dd_tune.store import NAME_RE, NAME_RULE
from dd_tune.errors import ConfigError
from dd_tune.schema import build, load_yaml, require, to_dict

SUITES_DIR = STUDIES_DIR / "suites"
SHARED_KEYS = ("dataset", "final_eval", "proxy_eval", "seed", "ipc")


@dataclass(frozen=True)
class SuiteConfig:
    """Studies compared under one protocol; ``shared`` keys are set on every study (same budget)."""

    name: str
    studies: tuple[str, ...]
    description: str = ""
    ipc: tuple[int, ...] = ()  # IPCs every study runs (empty: each study's own, which must agree)
    num_samples: int = 0  # trials per IPC for every study (0: each study's own)
    init_variants: tuple[str, ...] = ("real", "noise")
    shared: dict[str, Any] = field(default_factory=dict)  # study keys set on every study (dotted ok)
    profile: str = "default"

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and NAME_RE.fullmatch(self.name) is not None, "name",
                f"{self.name!r} is not a plain name (it becomes a directory): use {NAME_RULE}")
        require(len(self.studies) >= 1, "studies", "must list at least one study")
        require(len(set(self.studies)) == len(self.studies), "studies", "lists a study twice")
        require(self.num_samples >= 0, "num_samples", f"must be >= 0, got {self.num_samples}")


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str, profile: str = "default") -> SuiteConfig:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = SUITES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown suite {name_or_path!r}; choose from {list_suites()}")
    raw = apply_profile(load_yaml(path), profile, path)
    raw.setdefault("name", path.stem)
    raw["profile"] = profile
    return build(SuiteConfig, raw, "", str(path))


def suite_studies(suite: SuiteConfig) -> list[StudyConfig]:
    """Every study of the suite with the shared keys applied, validated, and checked to agree."""
    overrides: list[tuple[str, Any]] = [(k, v) for k, v in _flatten(suite.shared)]
    if suite.ipc:
        overrides.append(("ipc", list(suite.ipc)))
    if suite.num_samples:
        overrides.append(("search.num_samples", suite.num_samples))
    studies = []
    for name in suite.studies:
        study = load_study(name, suite.profile, overrides)
        if suite.init_variants and hasattr(study.distill, "init"):
            study = load_study(name, suite.profile, [*overrides, ("init_variants", list(suite.init_variants))])
        studies.append(study)
    first = studies[0]
    for study in studies[1:]:
        for key in SHARED_KEYS:
            if getattr(study, key) != getattr(first, key):
                raise ConfigError(f"suite {suite.name}: studies {first.name} and {study.name} differ in "
                                  f"{key!r}; set it under 'shared' (or 'ipc') so every method gets the same")
    return studies


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("named_points",):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m dd_tune.compare",
        description="Run the studies of a suite (DM, DataDAM, PAD on one dataset, same IPCs, trials and "
                    "evaluation protocol) and write one comparison report (compare.md / compare.json).",
    )
    p.add_argument("suite", nargs="?", help="suite name (studies/suites/<name>.yaml) or a path to a suite YAML")
    p.add_argument("--list", action="store_true", help="list the available suites and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the suite and every study as it will run (profile, preset, shared keys resolved) "
                        "as YAML, then exit without starting Ray or writing anything")
    p.add_argument("--profile", default="default", help="profile of the suite and of every study (e.g. quick)")
    add_run_options(p, "suite", "continue an interrupted suite in --storage: finished studies are read back, "
                                "the interrupted one resumes as with dd_tune.study --resume, the rest run")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from dd_tune.cli import NOTHING_STARTED, RESUME_HINT, run_cli

    started: list[Path] = []  # the suite directory, once it exists: only then is there anything to resume
    return run_cli(lambda: _main(argv, started), on_interrupt=lambda: RESUME_HINT if started else NOTHING_STARTED)


def _counts(study: StudyConfig, root: Path) -> list[int]:
    from dd_tune.data import train_class_counts

    d = study.data
    return train_class_counts(study.dataset, root, d.val_fraction, d.split_seed, d.max_train_per_class)


def _main(argv: Sequence[str] | None, started: list[Path]) -> int:
    from dd_tune.cli import prepare_run
    from dd_tune.search_space import default_point, load_search_space
    from dd_tune.study import check_ipcs, resolve_resources

    args = _parse_args(argv)
    if args.list:
        for name in list_suites():
            print(f"{name:24s} {load_suite(name).description.strip().splitlines()[0]}")
        return 0
    if not args.suite:
        raise ConfigError(f"name a suite; choose from {list_suites()} (or --list)")
    suite = load_suite(args.suite, args.profile)
    studies = suite_studies(suite)
    spaces = [load_search_space(s) for s in studies]
    for study, space in zip(studies, spaces):
        for ipc in study.ipc:
            default_point(study, space, ipc)
    if args.print_config:
        from dd_tune.study import resolved_yaml

        print(yaml.safe_dump({"suite": to_dict(suite)}, sort_keys=False), end="")
        for study, space in zip(studies, spaces):
            print(f"---\n{resolved_yaml(study, space)}", end="")
        return 0
    place = prepare_run(
        args, studies[0].dataset,
        check_dir=lambda storage: _check_suite_dir(store.locate(storage, suite.name, "suite"), studies, args),
        check_data=lambda root: [check_ipcs(s, sp, _counts(s, root)) for s, sp in zip(studies, spaces)],
        check_resources=lambda cpus, gpus: [resolve_resources(s, gpus, cpus) for s in studies])
    suite_dir = store.locate(place.storage, suite.name, "suite")
    store.create(suite_dir, "suite", replace=args.force)  # every check has passed
    started.append(suite_dir)
    t0 = time.time()
    reports = [run_member(study, space, suite_dir, place.data_root, place.gpus, args.resume)
               for study, space in zip(studies, spaces)]
    from dd_tune.compare_report import write_comparison

    comparison = write_comparison(suite, reports, suite_dir, time.time() - t0)
    print(f"\ncomparison: {suite_dir / 'compare.md'}")
    for line in comparison["summary"]:
        print(line)
    return 0


def _check_suite_dir(suite_dir: Path, studies: Sequence[StudyConfig], args: argparse.Namespace) -> None:
    """No silent overwrite; with --resume every study already in the suite directory must be the one
    asked for (checked before anything runs)."""
    from dd_tune.errors import StudyStateError
    from dd_tune.study import stored_config_diff

    store.check_owned(suite_dir, "suite", args.force, args.resume)
    if suite_dir.exists() and store.owned(suite_dir, "suite") and not (args.force or args.resume):
        raise StudyStateError(f"{suite_dir} already holds a suite; pass --resume to continue it, --force to "
                              f"replace it, or choose another --storage")
    if not args.resume:
        return
    for study in studies:
        store.check_owned(store.locate(suite_dir, study.name, "study"), "study", False, False)
        differs = stored_config_diff(suite_dir / study.name, study) if (suite_dir / study.name).exists() else []
        if differs:
            raise StudyStateError(f"{suite_dir / study.name} holds a different study (changed: "
                                  f"{', '.join(differs)}); --resume continues only the same suite; pass "
                                  f"--force to replace it or choose another --storage")


def run_member(study: StudyConfig, space: Any, suite_dir: Path, data_root: Path, gpus: float,
               resume: bool) -> dict[str, Any]:
    """One study of the suite (read back when a resumed suite had already finished it)."""
    from dd_tune.runner import StudyRunner
    from dd_tune.study import resolve_resources

    study_dir = suite_dir / study.name
    if resume and (study_dir / "report.json").exists():
        print(f"[dd_tune] suite: {study.name} finished before the interruption, read back", flush=True)
        return json.loads((study_dir / "report.json").read_text())
    resuming = resume and study_dir.exists()
    store.create(study_dir, "study")
    print(f"[dd_tune] suite: {'resuming' if resuming else 'running'} {study.name}", flush=True)
    runner = StudyRunner(study, space, study_dir, data_root, resolve_resources(study, gpus))  # checked before Ray
    return runner.run(resume=resuming)


if __name__ == "__main__":
    sys.exit(main())
