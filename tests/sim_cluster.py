"""Simulated Ray clusters for the GPU-cluster tests, on Ray's own harness: ``ray.cluster_utils.Cluster``
(nodes added and removed in-process, GPUs declared with ``num_gpus``: Ray schedules them as real ones) and
Ray's fake multi-node autoscaler, whose config is written here and started by hand (``AutoscalingCluster``
itself runs ``ray stop --force``, which would kill every Ray instance on the machine, a user's included).

A cluster is shut down by killing its own processes only: the head's, then whatever still runs in its
session directory (the nodes the fake autoscaler started)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def ensure_token() -> None:
    """Ray's auth token exists (a fresh machine has none until the first local ``ray.init``)."""
    from dd_tune.tune.cluster import make_token_private, token_path

    if not token_path().exists():
        subprocess.run([str(Path(sys.executable).parent / "ray"), "get-auth-token", "--generate"],
                       check=True, capture_output=True, timeout=60)
    make_token_private()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_autoscaler_config(head_cpus: float, worker_types: dict[str, Any], gcs_address: str) -> dict[str, Any]:
    """The fake multi-node provider's cluster config (as Ray's fake_multi_node/example.yaml)."""
    return {
        "cluster_name": "dd_tune_sim", "max_workers": 8, "upscaling_speed": 1.0, "idle_timeout_minutes": 5,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": gcs_address},
        "available_node_types": {"ray.head.default": {"resources": {"CPU": head_cpus, "GPU": 0},
                                                      "node_config": {}, "max_workers": 0}, **worker_types},
        "head_node_type": "ray.head.default", "auth": {}, "docker": {}, "initialization_commands": [],
        "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
        "head_start_ray_commands": [], "worker_start_ray_commands": [], "file_mounts": {},
        "cluster_synced_files": [], "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
    }


class SimCluster:
    """A head (no GPU) and workers added by the test; with ``autoscaler_types`` a fake autoscaler that may
    start nodes of those types. Use as a context manager."""

    def __init__(self, tmp: Path, head_cpus: float = 1, autoscaler_types: dict[str, Any] | None = None) -> None:
        self.tmp, self.head_cpus, self.types = tmp, head_cpus, autoscaler_types
        self.cluster: Any = None
        self._env: dict[str, str | None] = {}

    def __enter__(self) -> "SimCluster":
        from ray.cluster_utils import Cluster

        ensure_token()
        args: dict[str, Any] = {"num_cpus": self.head_cpus, "num_gpus": 0, "include_dashboard": False}
        if self.types is not None:
            import ray
            from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID

            port = free_port()
            config = self.tmp / "autoscaler.json"
            address = f"{ray._private.services.get_node_ip_address()}:{port}"
            config.write_text(json.dumps(fake_autoscaler_config(self.head_cpus, self.types, address)))
            # the monitor inherits these: the fake provider refuses to run without RAY_FAKE_CLUSTER
            self._set_env(RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
            args.update(autoscaling_config=str(config), gcs_server_port=port,
                        env_vars={"RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID})
        self.cluster = Cluster(initialize_head=True, head_node_args=args)
        return self

    def _set_env(self, **values: str) -> None:
        for key, value in values.items():
            self._env[key] = os.environ.get(key)
            os.environ[key] = value

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def add_worker(self, cpus: float, gpus: float = 0) -> Any:
        return self.cluster.add_node(num_cpus=cpus, num_gpus=gpus)

    def kill(self, node: Any) -> None:
        """The node dies at once, as a lost instance would (no graceful drain)."""
        self.cluster.remove_node(node, allow_graceful=False)

    def __exit__(self, *exc: Any) -> None:
        session = self.cluster.head_node.get_session_dir_path()
        self.cluster.shutdown()
        kill_session(session)
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def kill_session(session_dir: str) -> None:
    """Kill the processes of one Ray session (its directory on their command line, or a file of theirs
    open in it: Ray's agents rename their command line): the nodes a fake autoscaler started outlive the
    head otherwise. Nothing of any other Ray instance is touched."""
    me = os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) != me and _in_session(proc, session_dir):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def _in_session(proc: Path, session_dir: str) -> bool:
    if session_dir.encode() in (proc / "cmdline").read_bytes():
        return True
    for fd in (proc / "fd").iterdir():
        try:
            if os.readlink(fd).startswith(session_dir):
                return True
        except OSError:
            continue
    return False


class StudyProcess:
    """``python -m dd_tune.study ...`` in the background, its output in a file the test can watch."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "dd_tune.study", *args], cwd=REPO, text=True,
                                     stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, timeout: float = 300) -> None:
        t0 = time.time()
        while needle not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"the study ended before {needle!r}:\n{self.text()[-4000:]}")
            if time.time() - t0 > timeout:
                raise AssertionError(f"{needle!r} not seen within {timeout} s:\n{self.text()[-4000:]}")
            time.sleep(0.2)

    def finish(self, timeout: float = 600) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
