"""``dd-tune <command> [options]`` (also ``python -m dd_tune <command>``): the same commands as
``python -m dd_tune.<command>``. A command's module is imported only when it runs (``dd-tune evaluate``
does not load the Ray side)."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

COMMANDS = {name: f"dd_tune.commands.{name}" for name in ("study", "compare", "distill", "evaluate")}


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(argv, (str, bytes)):
        print(f"error: dd-tune: arguments must be a list of strings, e.g. [{str(argv)[:40]!r}], not one string",
              file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    usage = f"usage: dd-tune {{{','.join(COMMANDS)}}} [options]  (dd-tune <command> --help)"
    if not args or args[0] in ("-h", "--help"):
        print(usage, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"error: dd-tune: unknown command {args[0][:100]!r}; choose from {list(COMMANDS)} "
              f"(dd-tune <command> --help)", file=sys.stderr)
        return 2
    command = importlib.import_module(COMMANDS[args[0]])
    return command.main(args[1:], prog=f"dd-tune {args[0]}")
