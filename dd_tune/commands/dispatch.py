"""``dd-tune <command> [options]`` (also ``python -m dd_tune <command>``): the same commands as
``python -m dd_tune.<command>``. A command's module is imported only when it runs (``dd-tune evaluate``
does not load the Ray side)."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

COMMANDS = {name: f"dd_tune.commands.{name}" for name in ("study", "compare", "distill", "evaluate")}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        wanted = "" if not args or args[0] in ("-h", "--help") else f"unknown command {args[0]!r}; "
        print(f"{wanted}usage: dd-tune {{{','.join(COMMANDS)}}} [options]  (dd-tune <command> --help)",
              file=sys.stderr if wanted else sys.stdout)
        return 2 if wanted or not args else 0
    command = importlib.import_module(COMMANDS[args[0]])
    return command.main(args[1:], prog=f"dd-tune {args[0]}")
