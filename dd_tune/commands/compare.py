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
import time
from pathlib import Path
from typing import Sequence

import yaml

from dd_tune.commands.common import (NOTHING_STARTED, RESUME_HINT, Parser, add_run_options, apply_verbosity,
                                     describe, resolved_yaml, run_cli, run_request)
from dd_tune.config import list_suites, load_suite, to_dict
from dd_tune.errors import ConfigError
from dd_tune.report.compare import write_comparison
from dd_tune.tune import store
from dd_tune.tune.prepare import prepare_run
from dd_tune.tune.resources import check_full_budget_on_cpu, check_ipcs, resolve_resources
from dd_tune.tune.search import check_search
from dd_tune.tune.search_space import default_point, load_search_space
from dd_tune.tune.suite import check_members_idle, check_suite_dir, run_full_data, run_member, suite_studies


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
    for study, space in zip(studies, spaces):
        check_search(study, space)  # the whole search, built in memory, before anything is replaced
    apply_verbosity(args)
    place = prepare_run(
        run_request(args), studies[0].dataset, "suite", suite.name,
        check_dir=lambda storage: check_suite_dir(store.locate(storage, suite.name, "suite"), studies,
                                                  args.force, args.resume),
        check_data=lambda root: [check_ipcs(s, sp, root) for s, sp in zip(studies, spaces)],
        check_resources=lambda cpus, gpus: [
            check_full_budget_on_cpu(f"suite {suite.name}", gpus, args.profile is not None, args.yes_cpu),
            *[resolve_resources(s, gpus, cpus) for s in studies]])
    with place.lock:  # one run per suite directory, until this one ends
        suite_dir = store.locate(place.storage, suite.name, "suite")
        check_members_idle(suite_dir, studies)
        store.create(suite_dir, "suite", replace=args.force)  # every check has passed
        started.append(suite_dir)
        t0 = time.time()
        results = [run_member(study, space, suite_dir, place.data_root, place.gpus, args.resume)
                   for study, space in zip(studies, spaces)]
        full_data = run_full_data(suite, studies[0], suite_dir, place.data_root)
        comparison = write_comparison(suite, results, suite_dir, time.time() - t0, full_data)
    print(f"\ncomparison: {suite_dir / 'compare.md'}")
    for line in comparison["summary"]:
        print(line)
    return 0
