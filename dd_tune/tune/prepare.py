"""Everything checked before a run starts, cheapest first, and the Ray instance it runs on.

Nothing is written and Ray does not start until every check has passed: the command line, the storage,
the data, the resources a trial asks for; then Ray (started or joined) and, on several nodes, that
every node sees the storage.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dd_tune.base.errors import ConfigError
from dd_tune.config import user_path
from dd_tune.core.datasets import prepare_dataset, resolve_data_root
from dd_tune.search.faults import ask_kill_rule, delay_rules, fault_rules
from dd_tune.search.interrupts import sigterm_as_ctrl_c
from dd_tune.tune.capacity import Capacity, cluster_capacity, describe, local_capacity
from dd_tune.tune.cluster import (
    check_address_answers,
    check_connect_args,
    check_shared_storage,
    connect,
    local_resources,
    require_posix_storage,
)
from dd_tune.tune.lock import RunLock, lock_path
from dd_tune.tune.resources import Resources

MIN_FREE_BYTES = 100 * 2**20


@dataclass(frozen=True)
class RunRequest:
    """Every option of a run as the user gave it: where and on what it goes (``--storage``,
    ``--data-root``, ``--address``, ``--num-cpus``), what happens to an existing directory (``--force``
    replaces it, ``--resume`` continues it), whether a GPU-sized default profile may run on CPUs
    (``profile_given``: ``--profile`` was named; ``--yes-cpu``) and Ray Tune's own tables (``--verbose``)."""

    storage: str
    data_root: str | None = None
    address: str | None = None
    num_cpus: int | None = None
    force: bool = False
    resume: bool = False
    profile_given: bool = True
    yes_cpu: bool = False
    verbose: bool = False


@dataclass(frozen=True)
class RunPlace:
    storage: Path  # absolute
    data_root: Path
    gpus: float  # GPUs up when the run starts (after any wait for GPU nodes)
    nodes: int  # alive Ray nodes
    lock: RunLock  # the run's directory lock, held; the caller releases it when the run ends
    resources: list[Resources]  # what each study's trials ask for, as RunChecks.resources resolved it
    autoscaler: bool = False  # an autoscaler serves the cluster: the run's GPU request is released at its end


class RunChecks(Protocol):
    """What a run checks beside the storage and the dataset: a study checks its one study, a suite each
    member (dd_tune.tune.run)."""

    def directory(self, storage: Path) -> None:
        """Refuse what would be overwritten or mixed up under ``storage`` (a ConfigError)."""

    def search(self) -> None:
        """Build the run's searches in memory (imports Ray Tune and Optuna: after the cheap checks)."""

    def data(self, data_root: Path) -> None:
        """Check the data against the run (e.g. IPC against class sizes)."""

    def resources(self, cap: Capacity) -> list[Resources]:
        """What the trials ask for on a cluster that has and can start ``cap``: one entry per study."""

    def wait(self, resources: list[Resources], cap: Capacity) -> None:
        """On a cluster, wait for nodes that can take the trials (asking the autoscaler for them)."""


def prepare_run(req: RunRequest, dataset: str, kind: str, name: str, checks: RunChecks) -> RunPlace:
    """The checks before a run, cheapest first, and nothing written until they pass: command line,
    storage (usable, and ``checks.directory`` refuses what would be overwritten), the data root, the
    search (``checks.search``), the dataset (downloaded/verified; ``checks.data``), the resources a trial
    asks for (``checks.resources`` with the largest node's CPUs and GPUs: before a local Ray starts, after
    joining a cluster), then Ray and, on more than one node, that every node sees the storage.

    ``kind`` ("study", "suite") and ``name`` name the run's directory: its lock (:mod:`dd_tune.tune.lock`)
    is taken after the checks and before Ray starts (the storage is created then, if it is new, and the
    directory checked again under the lock), so a second run on the directory is refused before Ray and
    a refused run leaves no trace; it is given back if Ray fails to start. The caller releases it when
    the run ends."""
    check_connect_args(req.address, req.num_cpus)
    fault_rules(os.environ.get("DD_TUNE_FAULT_AFTER_REPORTS", ""))  # the testing hooks, before any directory
    delay_rules(os.environ.get("DD_TUNE_TASK_DELAY", ""))
    ask_kill_rule(os.environ.get("DD_TUNE_KILL_IN_ASK", ""))
    require_posix_storage(req.storage)
    storage = user_path(req.storage, "--storage")
    check_storage(storage)
    lock = RunLock(lock_path(storage, name), f"{kind} {name}")
    new_storage = not storage.exists()
    try:
        return _checked_place(req, dataset, storage, lock, checks)
    except BaseException:
        lock.release()
        if new_storage and storage.is_dir() and not any(storage.iterdir()):
            storage.rmdir()  # made by this run for its lock, empty again: a refused run leaves no trace
        raise


def _checked_place(req: RunRequest, dataset: str, storage: Path, lock: RunLock, checks: RunChecks) -> RunPlace:
    checks.directory(storage)
    data_root = resolve_data_root(req.data_root)
    checks.search()  # before the dataset is downloaded: a search Ray or Optuna would reject costs nothing
    prepare_dataset(dataset, data_root)
    checks.data(data_root)
    resources = checks.resources(local_capacity(*local_resources(req.num_cpus))) if req.address is None else []
    if req.address is not None:
        check_address_answers(req.address)
    try:  # every check has passed: the storage may exist now (the lock lives in it)
        storage.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--storage {storage} cannot be created ({e.strerror or e}); choose a writable "
                          f"--storage") from None
    lock.acquire()
    checks.directory(storage)  # again, under the lock: another run may have changed the directory meanwhile
    connect(req.address, req.num_cpus)
    sigterm_as_ctrl_c()  # ray.init replaced it with a handler that aborts (dd_tune.search.interrupts)
    autoscaler = False
    if req.address is not None:  # what the cluster has and can start; the wait for GPU nodes, if any
        cap = cluster_capacity()
        autoscaler = cap.autoscaler
        print(f"[dd_tune] cluster at {req.address}: {describe(cap)}", flush=True)
        resources = checks.resources(cap)
        checks.wait(resources, cap)
    cap = cluster_capacity()
    return RunPlace(storage, data_root, cap.gpus_now, check_shared_storage(storage), lock, resources, autoscaler)


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
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:  # a full disk fails late and misleadingly (Optuna: "exceeding max length")
        raise ConfigError(f"--storage {storage}: only {free / 2**20:.0f} MiB free on its file system (a study needs "
                          f"at least {MIN_FREE_BYTES // 2**20} MiB for checkpoints, sets and reports); free some "
                          f"space or choose another --storage")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--storage {storage}: cannot write to {existing} (read-only file system or no "
                          f"permission); choose a writable --storage")


