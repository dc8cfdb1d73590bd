"""``python -m dd_tune.compare SUITE`` (``dd-tune compare SUITE``): DM, DataDAM and PAD on one dataset,
one protocol, one report.

A suite (``studies/suites/<name>.yaml``) lists studies and what they must share: the IPCs, the search
budget (trials per IPC), the evaluation protocol (``final_eval``/``proxy_eval``), the seed, and the
init variants (noise vs real at the tuned hyperparameters). Each study runs as it would alone, into
``<storage>/<suite>/<study>/`` (expert trajectories shared in ``<storage>/<suite>/experts``); then
``compare.md``/``compare.json`` put default vs tuned accuracy, random real, init variants, wall time,
CPU/GPU-seconds and FLOPs side by side, with intervals on every difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import yaml

from dd_tune.base.errors import ConfigError
from dd_tune.commands.common import (
    NOTHING_STARTED,
    RESUME_HINT,
    Parser,
    add_run_options,
    describe,
    resolved_yaml,
    run_cli,
    run_request,
)
from dd_tune.config import list_suites, load_suite, to_dict
from dd_tune.search.space import default_point
from dd_tune.tune import load_search_space, run_suite, suite_studies


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.compare") -> argparse.Namespace:
    p = Parser(
        prog=prog,
        description="Run the studies of a suite (DM, DataDAM, PAD on one dataset, same IPCs, trials and "
                    "evaluation protocol) and write one comparison report (compare.md / compare.json).",
    )
    p.add_argument("suite", nargs="?", help="suite name (on the study search path, suites/) or a path to a suite YAML")
    p.add_argument("--list", action="store_true", help="list the available suites and exit")
    p.add_argument("--print-config", action="store_true",
                   help="print the suite and every study as it will run (profile, preset, shared keys resolved) "
                        "as YAML, then exit without starting Ray or writing anything")
    p.add_argument("--profile", default=None, help="profile of the suite and of every study (e.g. quick; the default "
                                                   "profile needs --yes-cpu where no GPU is visible)")
    add_run_options(p, "suite", "continue an interrupted suite in --storage: finished studies are read back, "
                                "the interrupted one resumes as with dd_tune.study --resume, the rest run")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.compare") -> int:
    started: list[Path] = []  # the suite directory, once it exists: only then is there anything to resume
    return run_cli(lambda: _main(parse_args(argv, prog), started),
                   on_interrupt=lambda: RESUME_HINT if started else NOTHING_STARTED)


def _main(args: argparse.Namespace, started: list[Path]) -> int:
    if args.list:
        for name in list_suites():
            print(f"{name:24s} {describe(load_suite, name)}")
        return 0
    if not args.suite:
        raise ConfigError(f"name a suite; choose from {list_suites()} (or --list)")
    suite = load_suite(args.suite, args.profile or "default")
    studies = suite_studies(suite)
    spaces = [load_search_space(s) for s in studies]
    for study, space in zip(studies, spaces):
        for ipc in study.ipc:
            default_point(study, space, ipc)
    if args.print_config:
        print(yaml.safe_dump({"suite": to_dict(suite)}, sort_keys=False), end="")
        for study, space in zip(studies, spaces):
            print(f"---\n{resolved_yaml(study, space)}", end="")
        return 0
    outcome = run_suite(suite, studies, spaces, run_request(args), started.append)
    print(f"\ncomparison: {outcome.suite_dir / 'compare.md'}")
    for line in outcome.comparison["summary"]:
        print(line)
    return 0
