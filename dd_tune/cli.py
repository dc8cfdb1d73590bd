"""Turning user errors into one clear message and a non-zero exit (entry points only)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dd_tune.errors import ConfigError, DDTuneError


RESUME_HINT = "interrupted; finished work is kept: run the same command with --resume to continue"
NOTHING_STARTED = "interrupted before anything was written; run the command again to start"


def run_cli(body: Callable[[], int], on_interrupt: str | Callable[[], str] = "interrupted") -> int:
    """Run a command body; a :class:`DDTuneError` becomes ``error: <message>`` (one line) and exit code
    2, Ctrl-C prints ``on_interrupt`` (or what it returns, when it depends on how far the run got) and
    exits with 130."""
    try:
        return body()
    except DDTuneError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(on_interrupt() if callable(on_interrupt) else on_interrupt, file=sys.stderr)
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


def prepare_run(args: argparse.Namespace, dataset: str, check_dir: Callable[[Path], None],
                check_data: Callable[[Path], object] | None = None,
                check_resources: Callable[[float, float], object] | None = None) -> RunPlace:
    """The checks before a run, cheapest first, and nothing written until they pass: command line,
    storage (usable, and ``check_dir(storage)`` refuses what would be overwritten), the dataset
    (downloaded/verified; ``check_data(data_root)``, e.g. IPC vs class sizes), the resources a trial asks for
    (``check_resources(largest node's CPUs, GPUs)``: before a local Ray starts, after joining a
    cluster), then Ray and, on more than one node, that every node sees the storage."""
    from dd_tune.cluster import (check_address_answers, check_connect_args, check_shared_storage, connect,
                                 local_resources, node_resources, require_posix_storage)
    from dd_tune.data import prepare_dataset, resolve_data_root
    from dd_tune.trainable import fault_rules

    check_connect_args(args.address, args.num_cpus)
    fault_rules(os.environ.get("DD_TUNE_FAULT_AFTER_REPORTS", ""))  # the testing hook, before any directory
    require_posix_storage(args.storage)
    storage = Path(args.storage).expanduser().resolve()
    check_storage(storage)
    check_dir(storage)
    data_root = resolve_data_root(args.data_root)
    prepare_dataset(dataset, data_root)
    if check_data is not None:
        check_data(data_root)
    if args.address is None and check_resources is not None:
        check_resources(*local_resources(args.num_cpus))
    if args.address is not None:
        check_address_answers(args.address)
    gpus = connect(args.address, args.num_cpus)
    if args.address is not None and check_resources is not None:
        check_resources(*node_resources())
    return RunPlace(storage, data_root, gpus, check_shared_storage(storage))


def check_storage(storage: Path) -> None:
    """The storage is a directory dd_tune can write to, or can be created under one (not a file, not
    read-only, not under a file)."""
    if storage.exists() and not storage.is_dir():
        raise ConfigError(f"--storage {storage} is a file, not a directory")
    existing = storage
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--storage {storage} lies under {existing}, which is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--storage {storage}: cannot write to {existing} (read-only file system or no "
                          f"permission); choose a writable --storage")


def check_writable_file(path: str | None, option: str) -> None:
    """An output file (``--out``, ``--json``) can be written, checked before hours of work, not after."""
    if path is None:
        return
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        raise ConfigError(f"{option} {path} is a directory; name a file")
    if not p.parent.is_dir():
        raise ConfigError(f"{option} {path}: the directory {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"{option} {path}: cannot write there (read-only file system or no permission)")
