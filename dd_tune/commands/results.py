"""``python -m dd_tune.results [PATH ...]`` (``dd-tune results``): one table over finished studies, read from
their ``report.json`` files; nothing is re-run or written."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from dd_tune.base.errors import ConfigError
from dd_tune.base.printable import printable
from dd_tune.commands.common import Parser, run_cli
from dd_tune.report.catalog import ARCHS, FORMATS, load_results_checked, render, summary_rows
from dd_tune.report.fingerprint import differences as fingerprint_differences


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.results") -> argparse.Namespace:
    p = Parser(prog=prog, description="Print the headline numbers of finished studies (reference defaults, tuned, "
                                      "random real, tuned - defaults with its interval, trials, wall time) "
                                      "without re-running anything.")
    p.add_argument("paths", nargs="*", default=["./runs"],
                   help="study directories, suite directories or storages (default ./runs)")
    p.add_argument("--format", choices=FORMATS, default="text", help="text (default), csv or json")
    p.add_argument("--arch", default="convnet", choices=ARCHS, help="the test architecture of the columns")
    p.add_argument("--diff", action="store_true",
                   help="compare two studies (two study directories): whether their inputs (configuration, code, "
                        "data, libraries) and outcomes are the same, and the first trial, choice or test row where "
                        "they part; exit code 0 when the outcomes are identical, 1 when they differ")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.results") -> int:
    return run_cli(lambda: _main(parse_args(argv, prog)))


def _main(args: argparse.Namespace) -> int:
    """The table of every study that reads back; each report that does not is one ``error:`` line on
    stderr (the good ones are still shown) and the exit code is 2."""
    if args.diff:
        return _diff(args.paths)
    results, problems = load_results_checked(args.paths)
    if results:
        print(render(summary_rows(results, args.arch), args.format), end="")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _diff(paths: Sequence[str]) -> int:
    if len(paths) != 2:
        raise ConfigError(f"--diff compares two studies: give two study directories, got {len(paths)} path(s)")
    studies = []
    for path in paths:
        results, problems = load_results_checked([path])
        if problems:
            raise ConfigError(problems[0])
        if len(results) != 1:
            raise ConfigError(f"--diff compares two studies: {printable(path)} holds {len(results)}; give the "
                              f"directory of one study")
        studies.append(results[0])
    a, b = studies
    for name, study in (("A", a), ("B", b)):
        fingerprint = study.fingerprint
        outcome = (fingerprint.outcome if fingerprint and fingerprint.outcome
                   else "none (a report of an earlier version)")
        print(f"{name}: {printable(study.study_dir)}: outcome {outcome}, inputs "
              f"{fingerprint.inputs if fingerprint else 'none'}")
    lines = fingerprint_differences(a, b)
    if not lines:
        print("the same study: every trial, the choice and every test row are identical")
        return 0
    for line in lines:
        print(f"- {printable(line)}")
    same_outcome = not any(line.startswith("IPC ") for line in lines)
    if same_outcome:
        print("the same outcome: every trial, the choice and every test row are identical")
    return 0 if same_outcome else 1
