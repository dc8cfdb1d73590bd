"""Turning user errors into one clear message and a non-zero exit (entry points only)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dd_tune.errors import DDTuneError


RESUME_HINT = "interrupted; finished work is kept: run the same command with --resume to continue"


def run_cli(body: Callable[[], int], on_interrupt: str = "interrupted") -> int:
    """Run a command body; a :class:`DDTuneError` becomes ``error: <message>`` and exit code 2,
    Ctrl-C prints ``on_interrupt`` and exits with 130."""
    try:
        return body()
    except DDTuneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(on_interrupt, file=sys.stderr)
        return 130


def add_run_options(p: argparse.ArgumentParser, what: str, resume_help: str) -> None:
    """Where and on what a run goes (``what``: "study" or "suite"), shared by ``study`` and ``compare``."""
    p.add_argument("--storage", default="./runs", help="results directory (default ./runs, made absolute)")
    p.add_argument("--data-root", default=None,
                   help="dataset root (default: $DD_TUNE_DATA, else a per-user cache directory)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--address", default=None,
                   help="join an existing Ray cluster ('auto' on a cluster node, or HOST:PORT) instead of "
                        "starting a local instance; a multi-node cluster needs --storage on a shared mount")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help=resume_help)
    mode.add_argument("--force", action="store_true", help=f"replace an existing {what} directory")


@dataclass(frozen=True)
class RunPlace:
    storage: Path  # absolute
    data_root: Path
    gpus: float  # GPUs visible to Ray
    nodes: int  # alive Ray nodes


def prepare_run(args: argparse.Namespace, dataset: str, check_dir: Callable[[Path], None]) -> RunPlace:
    """The checks before a run, cheapest first: command line, storage (``check_dir(storage)`` refuses
    what would be overwritten), then the dataset (downloaded/verified), then Ray (started or joined)
    and, on more than one node, that every node sees the storage."""
    from dd_tune.cluster import check_connect_args, check_shared_storage, connect, require_posix_storage
    from dd_tune.data import prepare_dataset, resolve_data_root
    from dd_tune.trainable import fault_rules

    check_connect_args(args.address, args.num_cpus)
    fault_rules(os.environ.get("DD_TUNE_FAULT_AFTER_REPORTS", ""))  # the testing hook, before any directory
    require_posix_storage(args.storage)
    storage = Path(args.storage).expanduser().resolve()
    check_dir(storage)
    data_root = resolve_data_root(args.data_root)
    prepare_dataset(dataset, data_root)
    gpus = connect(args.address, args.num_cpus)
    return RunPlace(storage, data_root, gpus, check_shared_storage(storage))
