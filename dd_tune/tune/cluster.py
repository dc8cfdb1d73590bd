"""Connecting the study driver to Ray, and checking that a multi-node cluster shares the storage.

A study keeps its Optuna sqlite file, trial checkpoints, reports and the expert-trajectory cache under
one storage directory. Trials and expert tasks write there from whichever node runs them, so on a
cluster with several nodes that directory must be the same file system everywhere (NFS/EFS/Lustre...).
Ray itself would only notice much later (PR #39428: multi-node runs require shared storage), and a
node-local path silently splits the expert cache; the probe below fails before anything runs.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

from dd_tune.base.errors import ConfigError, ResourceError
from dd_tune.search.progress import tune_verbosity

URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # s3://, S3://, memory://, file://, ...


def check_connect_args(address: str | None, num_cpus: int | None) -> None:
    if address is not None and num_cpus is not None:
        raise ConfigError("--num-cpus sizes a local Ray instance; it cannot be combined with --address "
                          "(the cluster's nodes declare their own resources)")
    if num_cpus is not None and num_cpus <= 0:
        raise ConfigError(f"--num-cpus must be >= 1, got {num_cpus}")


def local_resources(num_cpus: int | None) -> tuple[float, float]:
    """(CPUs, GPUs) the local Ray instance will have, known before it starts."""
    import torch

    return float(num_cpus or os.cpu_count() or 1), float(torch.cuda.device_count())


def check_address_answers(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT nobody answers fails in seconds (Ray itself retries for minutes); ``auto`` needs a
    Ray instance started on this machine (``ray start``)."""
    if address == "auto":
        if not Path(tempfile.gettempdir(), "ray", "ray_current_cluster").exists():
            raise ResourceError("--address auto: no Ray cluster was started on this machine (ray start --head, "
                                "or ray up cluster.yaml); omit --address to start a local instance")
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected 'auto' or HOST:PORT (the head's GCS address, e.g. "
                          f"10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ResourceError(f"--address {address}: nobody answers there within {timeout_s:g} s ({e.strerror or e}); "
                            f"check the head node's address and that `ray start --head` runs") from None


def token_path() -> Path:
    """Where Ray keeps its authentication token (``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``)."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def make_token_private(path: Path | None = None) -> None:
    """Ray 2.60 writes its token 0644 into a 0755 ``~/.ray``, while its ports listen behind that token:
    Ray's default folder becomes 0700 (created so when missing, before Ray writes into it) and the file
    0600. Only what belongs to this user is touched; a token elsewhere keeps its folder's mode."""
    path = path or token_path()
    default_folder = Path.home() / ".ray"
    if path.parent == default_folder:
        default_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _chmod_own(default_folder, 0o700)
    _chmod_own(path, 0o600)


def _chmod_own(target: Path, mode: int) -> None:
    if target.exists() and not target.is_symlink() and target.stat().st_uid == os.getuid() \
            and target.stat().st_mode & 0o777 != mode:
        os.chmod(target, mode)


def connect(address: str | None, num_cpus: int | None) -> float:
    """Start a local Ray instance, or join the cluster at ``address``; returns the cluster's GPU count."""
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    import ray

    check_connect_args(address, num_cpus)
    if not ray.is_initialized():
        if address is None:
            # Ray 2.60 turns token authentication on for a new local instance (it creates the token in
            # ~/.ray/auth_token) unless RAY_AUTH_MODE says otherwise: dd_tune leaves it on (it used to
            # set "disabled") and starts no dashboard. tests/test_ray_security.py checks the listeners.
            make_token_private()  # the folder first: no moment in which the new token is readable
            # address="local": a new instance of our own, never one found through RAY_ADDRESS or the
            # world-writable /tmp/ray/ray_current_cluster (another user's Ray on this machine)
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True,
                     configure_logging=True, logging_level=_ray_log_level())
            make_token_private()
        else:
            try:
                ray.init(address=address, log_to_driver=True, configure_logging=True, logging_level=_ray_log_level())
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ResourceError(f"cannot connect to the Ray cluster at --address {address!r}: {e}") from e
    return float(ray.cluster_resources().get("GPU", 0.0))


def _ray_log_level() -> int:
    """Ray's own log lines: errors only unless ``--verbose`` (its warnings, such as the token-authentication
    notice or Tune's snapshot timings, are about Ray's internals; dd_tune prints what the user must know)."""
    return logging.WARNING if tune_verbosity() > 0 else logging.ERROR


def dead_nodes() -> set[str]:
    """Ids of the Ray nodes that have died so far (a stage compares before and after)."""
    import ray

    return {n["NodeID"] for n in ray.nodes() if not n.get("Alive")}


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def _probe(path: str) -> bool:
    return os.path.exists(path)


def nodes_missing(storage: Path, nodes: Sequence[dict[str, Any]],
                  probe: Callable[[str], bool] | None = None) -> list[str]:
    """Addresses of the nodes that cannot see a marker file written here into ``storage``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    storage.mkdir(parents=True, exist_ok=True)
    marker = storage / f".dd_tune_storage_probe-{uuid.uuid4().hex}"
    marker.write_text("dd_tune shared-storage probe\n")
    try:
        task = ray.remote(num_cpus=0)(probe or _probe)
        refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(marker)) for n in nodes]
        seen = ray.get(refs, timeout=120)
    finally:
        marker.unlink(missing_ok=True)
    return [n.get("NodeManagerAddress", n["NodeID"]) for n, ok in zip(nodes, seen) if not ok]


def require_posix_storage(storage: str) -> None:
    """The study keeps an sqlite file and file locks in its storage: a URI (any scheme, any case) cannot
    hold them, and a ``memory://`` or ``S3://`` must not silently become a local folder of that name."""
    if URI_RE.match(storage):
        raise ConfigError(f"--storage {storage}: the study keeps an sqlite file and file locks there, so it "
                          f"needs a POSIX path; mount the bucket or NFS share on every node and pass that path")


def check_shared_storage(storage: Path, probe: Callable[[str], bool] | None = None) -> int:
    """On a multi-node cluster, refuse a storage path that is not visible from every node.

    Returns the number of alive nodes. ``probe`` (tests) replaces the per-node existence check.
    """
    nodes = alive_nodes()
    if len(nodes) <= 1:
        return len(nodes)
    missing = nodes_missing(storage, nodes, probe)
    if missing:
        raise ConfigError(
            f"--storage {storage} is node-local: {len(missing)} of {len(nodes)} Ray nodes "
            f"({', '.join(missing)}) cannot see it. A multi-node study needs storage shared by all nodes "
            f"(an NFS/EFS mount at the same path everywhere, e.g. /mnt/dd_tune/runs from cluster.yaml)"
        )
    return len(nodes)
