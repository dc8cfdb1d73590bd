"""``python -m dd_tune.results [PATH ...]`` (``dd-tune results``): one table over finished studies, read from
their ``report.json`` files; nothing is re-run or written."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from dd_tune.commands.common import Parser, run_cli
from dd_tune.report.catalog import ARCHS, FORMATS, load_results_checked, render, summary_rows


def parse_args(argv: Sequence[str] | None, prog: str = "python -m dd_tune.results") -> argparse.Namespace:
    p = Parser(prog=prog, description="Print the headline numbers of finished studies (reference defaults, tuned, "
                                      "random real, tuned - defaults with its interval, trials, wall time) "
                                      "without re-running anything.")
    p.add_argument("paths", nargs="*", default=["./runs"],
                   help="study directories, suite directories or storages (default ./runs)")
    p.add_argument("--format", choices=FORMATS, default="text", help="text (default), csv or json")
    p.add_argument("--arch", default="convnet", choices=ARCHS, help="the test architecture of the columns")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None, prog: str = "python -m dd_tune.results") -> int:
    return run_cli(lambda: _main(parse_args(argv, prog)))


def _main(args: argparse.Namespace) -> int:
    """The table of every study that reads back; each report that does not is one ``error:`` line on
    stderr (the good ones are still shown) and the exit code is 2."""
    results, problems = load_results_checked(args.paths)
    if results:
        print(render(summary_rows(results, args.arch), args.format), end="")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0
