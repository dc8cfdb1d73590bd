"""``dd-tune <command> [options]`` (also ``python -m dd_tune <command>``): the same commands as
``python -m dd_tune.<command>``. A command's module is imported only when it runs (``dd-tune evaluate``
does not load the Ray side)."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from dd_tune.base.errors import did_you_mean

COMMANDS = {name: f"dd_tune.commands.{name}" for name in ("study", "compare", "distill", "evaluate", "results")}
SUMMARIES = {
    "study": "search a method's hyperparameters (Ray Tune + Optuna), confirm the best on validation, test once",
    "compare": "run a suite of studies under one protocol and write one comparison (compare.md)",
    "distill": "distill one synthetic set with a study's configuration, no search",
    "evaluate": "train fresh ConvNets/LeNets on a saved synthetic set and test them",
    "results": "one table over finished studies (text, CSV or JSON), read from their reports",
}


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(argv, (str, bytes)):
        print(f"error: dd-tune: arguments must be a list of strings, e.g. [{str(argv)[:40]!r}], not one string",
              file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "\n".join([f"usage: dd-tune {{{','.join(COMMANDS)}}} [options]  (dd-tune <command> --help)", "",
                       "commands:", *(f"  {name:9s} {SUMMARIES[name]}" for name in COMMANDS)])
    if not args or args[0] in ("-h", "--help"):
        print(usage, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"error: dd-tune: unknown command {args[0][:100]!r}{did_you_mean(args[0], COMMANDS)}; choose from "
              f"{list(COMMANDS)} (dd-tune <command> --help)", file=sys.stderr)
        return 2
    command = importlib.import_module(COMMANDS[args[0]])
    return int(command.main(args[1:], prog=f"dd-tune {args[0]}"))
