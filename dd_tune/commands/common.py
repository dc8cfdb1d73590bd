"""What every command shares: one-line errors and exit codes, the run options of study and compare,
checks of output paths, printing a resolved configuration."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Mapping, NoReturn, Sequence

import yaml

from dd_tune.base.allocator import steady_allocator
from dd_tune.base.errors import ConfigError, DDTuneError
from dd_tune.base.printable import printable
from dd_tune.config import StudyConfig, to_dict
from dd_tune.methods.configs import study_at
from dd_tune.records import IpcResult, SetAccuracy
from dd_tune.search.interrupts import handlers_restored, sigterm_as_ctrl_c
from dd_tune.search.space import SearchSpace, space_as_dict
from dd_tune.tune.prepare import RunRequest

RESUME_HINT = "interrupted; finished work is kept: run the same command with --resume to continue"
NOTHING_STARTED = "interrupted before anything was written; run the command again to start"


class Parser(argparse.ArgumentParser):
    """argparse with dd_tune's error convention: a bad command line is one ``error:`` line (naming the
    command's ``--help``) and exit 2 through :func:`run_cli`, not argparse's usage block and ``sys.exit``
    inside library code; a string where a list of arguments belongs is refused, not split into letters."""

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        if isinstance(args, (str, bytes)):
            raise ConfigError(f"{self.prog}: arguments must be a list of strings, e.g. [{str(args)[:40]!r}], "
                              f"not one string")
        parsed: argparse.Namespace = super().parse_args(args, namespace)
        return parsed

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


def run_cli(body: Callable[[], int], on_interrupt: str | Callable[[], str] = "interrupted") -> int:
    """Run a command body; a :class:`DDTuneError` becomes ``error: <message>`` (one line) and exit code
    2. Ctrl-C and SIGTERM (treated alike in every stage: :mod:`dd_tune.search.interrupts`) print
    ``error: <on_interrupt>`` (or what it returns, when it depends on how far the run got) and exit 2 too;
    the signal handlers are the caller's again afterwards."""
    steady_allocator()  # the CLI process runs tensor work too (in-process evaluation, the final table)
    with handlers_restored():
        sigterm_as_ctrl_c()
        try:
            return body()
        except DDTuneError as e:
            print("error: " + printable(" ".join(str(e).split())), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            message = on_interrupt() if callable(on_interrupt) else on_interrupt
            print("error: " + message, file=sys.stderr)
            return 2
        except BrokenPipeError:  # the output went into a pipe that closed early (| head): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


def add_run_options(p: argparse.ArgumentParser, what: str, resume_help: str) -> None:
    """Where and on what a run goes (``what``: "study" or "suite"), shared by ``study`` and ``compare``."""
    p.add_argument("--storage", default="./runs", help="results directory (default ./runs, made absolute)")
    p.add_argument("--data-root", default=None,
                   help="dataset root (default: $DD_TUNE_DATA, else a per-user cache directory)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--address", default=None,
                   help="join an existing Ray cluster ('auto' on a cluster node, or HOST:PORT) instead of "
                        "starting a local instance; a multi-node cluster needs --storage on a shared mount")
    p.add_argument("--verbose", action="store_true",
                   help="also print Ray Tune's own status tables (default: one dd_tune line per trial with an ETA)")
    p.add_argument("--yes-cpu", action="store_true",
                   help="run the default profile (the published, GPU-sized budget) even where no GPU is visible; "
                        "without it such a run is refused unless --profile is given")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help=resume_help)
    mode.add_argument("--force", action="store_true", help=f"replace an existing {what} directory")


def run_request(args: argparse.Namespace) -> RunRequest:
    """The run options of ``add_run_options`` as the Ray side takes them."""
    return RunRequest(storage=args.storage, data_root=args.data_root, address=args.address, num_cpus=args.num_cpus,
                      force=args.force, resume=args.resume, profile_given=args.profile is not None,
                      yes_cpu=args.yes_cpu, verbose=args.verbose)


def resolved_yaml(study: StudyConfig, space: SearchSpace) -> str:
    """The study as it will run (``--print-config``): every key resolved, plus its search space; with
    per-IPC recipes (``distill_by_ipc``), ``distill_at_ipc`` shows the whole method config at each IPC."""
    doc = to_dict(study)
    if study.distill_by_ipc:
        doc["distill_at_ipc"] = {ipc: to_dict(study_at(study, ipc).distill) for ipc in study.ipc}
    return yaml.safe_dump({**doc, "search_space": space_as_dict(space)}, sort_keys=False)


def describe(load: Callable[[str], Any], name: str) -> str:
    """The first line of a study's or suite's description, or why it does not load (``--list``)."""
    try:  # a study file is text from anywhere: no terminal control sequence reaches the screen
        return printable((load(name).description.strip().splitlines() or [""])[0])
    except DDTuneError as e:  # a broken file still gets listed, with its problem
        text = printable(e)
        return f"(invalid: {text[:200]}{'…' if len(text) > 200 else ''})"


def print_reeval(by_ipc: Mapping[str, IpcResult]) -> None:
    """One line per re-evaluated set: mean ± std per architecture."""
    for ipc, row in by_ipc.items():
        for name, accs in row.reeval.items():
            print(f"ipc {ipc} {name:12s} " + "  ".join(f"{arch} {_cell(a)}" for arch, a in accs.items()))


def _cell(entry: SetAccuracy) -> str:
    """mean ± std over fresh models; one model has no spread to show ("(n=1)", as the report writes it)."""
    return f"{entry.mean:.2f}±{entry.std:.2f}" if len(entry.runs) > 1 else f"{entry.mean:.2f} (n=1)"
