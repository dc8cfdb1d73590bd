"""What a Ray cluster has and can bring up, and waiting for the GPU nodes a study needs.

A cluster launched by ``ray up cluster.yaml`` starts with a head that has no GPU; its GPU workers are
started by Ray's autoscaler when work asks for them. Counting the GPUs that are up at the moment the
study joins would plan a CPU study (``gpu: auto``) or refuse an explicit GPU request on exactly the
cluster the study was meant for. So the study looks at what the cluster *can* have: the alive nodes and,
where an autoscaler runs, its node types; it asks the autoscaler for the GPU slots its trials need
(``ray.autoscaler.sdk.request_resources``) and waits for them, with a bound (``resources.wait_s``).

Where the node types come from: the cluster config the autoscaler publishes in Ray's GCS (autoscaler v2,
KubeRay), else the autoscaling config file of the monitor process running on this machine (the head of
a ``ray up`` cluster, where the README runs the study). An autoscaler whose node types cannot be read
still gets the request; the wait bound then decides.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from dd_tune.base.errors import ResourceError

DEBUG_STATUS_KEY = b"__autoscaling_status"  # written by Ray's (v1) autoscaler monitor on every update
POLL_S = 2.0
READONLY_TYPE = re.compile(r"^node_[0-9a-f]{56}$")  # the read-only monitor's anonymous node types
RESOURCES = "resources"  # a node type's resources in Ray's cluster config schema
SAY_EVERY_S = 60.0


@dataclass(frozen=True)
class NodeShape:
    """What one node (alive, or of an autoscaler node type) offers: CPUs, GPUs, how many may run."""

    cpu: float
    gpu: float
    count: int = 1  # alive nodes: 1 each; a node type: its max_workers


@dataclass(frozen=True)
class Capacity:
    """The alive nodes and, where an autoscaler runs, the node types it may start."""

    alive: tuple[NodeShape, ...]
    autoscaler: bool = False
    node_types: tuple[NodeShape, ...] | None = None  # None: no autoscaler, or its types could not be read
    local: bool = False  # a local instance: nothing can join

    @property
    def gpus_now(self) -> float:
        return sum(n.gpu for n in self.alive)

    @property
    def largest_cpus(self) -> float:
        """CPUs of the largest node the cluster has or can start (what one trial may ask for)."""
        return max((n.cpu for n in (*self.alive, *(self.node_types or ()))), default=0.0)

    @property
    def can_have_gpus(self) -> bool:
        """GPUs alive now, or a node type with GPUs the autoscaler may start."""
        return self.gpus_now > 0 or any(t.gpu > 0 and t.count > 0 for t in self.node_types or ())

    def fits_now(self, cpu: float, gpu: float) -> bool:
        """One trial of this shape fits an alive node."""
        return any(n.cpu >= cpu and n.gpu >= gpu for n in self.alive)

    def can_fit(self, cpu: float, gpu: float) -> bool | None:
        """One trial of this shape fits a node the cluster has or can start: True, False, or None when
        it cannot be known (an autoscaler whose types are unknown, or a cluster nodes may join by hand)."""
        if self.fits_now(cpu, gpu) or any(t.cpu >= cpu and t.gpu >= gpu and t.count > 0
                                          for t in self.node_types or ()):
            return True
        if self.local or self.node_types is not None:
            return False
        return None

    def slots(self, cpu: float, gpu: float) -> int:
        """Trials of this shape the alive nodes hold side by side (placed node by node, as Ray does)."""
        return sum(_per_node(n, cpu, gpu) for n in self.alive)

    def max_slots(self, cpu: float, gpu: float) -> int | None:
        """Trials side by side once the autoscaler has started every node it may; None when unknown."""
        if self.node_types is None:
            return None if self.autoscaler else self.slots(cpu, gpu)
        return self.slots(cpu, gpu) + sum(_per_node(t, cpu, gpu) * t.count for t in self.node_types)


def _per_node(node: NodeShape, cpu: float, gpu: float) -> int:
    by_cpu = math.floor(node.cpu / cpu + 1e-9) if cpu > 0 else 10**6
    by_gpu = math.floor(node.gpu / gpu + 1e-9) if gpu > 0 else 10**6
    return max(0, min(by_cpu, by_gpu)) if (cpu > 0 or gpu > 0) else 0


def local_capacity(cpus: float, gpus: float) -> Capacity:
    """The local instance, known before it starts: one node, nothing can join."""
    return Capacity((NodeShape(cpus, gpus),), local=True)


def cluster_capacity() -> Capacity:
    """The joined cluster: its alive nodes, whether an autoscaler runs and, if known, its node types."""
    import ray

    types = autoscaler_node_types(ray.get_runtime_context().gcs_address)
    return Capacity(shapes_of(ray.nodes()), types is not None or _status_names_node_types(), types)


def _status_names_node_types() -> bool:
    """The autoscaler's published status maps nodes to node types of a cluster config: a real autoscaler.
    (A head started without ``--autoscaling-config`` runs a read-only monitor whose types are the
    anonymous ``node_<id>``.)"""
    from ray.experimental.internal_kv import _internal_kv_get

    try:
        status = json.loads(_internal_kv_get(DEBUG_STATUS_KEY) or b"{}")
    except Exception:  # noqa: BLE001 - no status (an older GCS, or nothing published yet)
        return False
    mapping = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
    return any(not READONLY_TYPE.match(str(t)) for t in mapping.values())


def autoscaler_node_types(gcs_address: str) -> tuple[NodeShape, ...] | None:
    """The worker node types the autoscaler of the cluster at ``gcs_address`` may start (head type
    excluded): from the cluster config in the GCS (autoscaler v2, KubeRay), else from the config file of
    its monitor on this machine; None when no autoscaler is known or its types cannot be read."""
    types = _gcs_node_types()
    if types is not None:
        return types
    config = monitor_config_path(gcs_address)
    return None if config is None else node_types_of(config)


def _gcs_node_types() -> tuple[NodeShape, ...] | None:
    try:
        from ray._private.state import state

        config = state.get_cluster_config()
    except Exception:  # noqa: BLE001 - not published (autoscaler v1) or not reachable
        return None
    if config is None or not config.node_group_configs:
        return None
    return tuple(NodeShape(float(g.resources.get("CPU", 0)), float(g.resources.get("GPU", 0)),
                           int(g.max_count) if g.max_count >= 0 else 10**6)
                 for g in config.node_group_configs)


def monitor_config_path(gcs_address: str, proc: Path = Path("/proc")) -> Path | None:
    """The ``--autoscaling-config`` file of the autoscaler monitor of the cluster at ``gcs_address``
    running on this machine (Linux; the head of a ``ray up`` cluster). Another cluster's monitor on the
    same machine is not this cluster's: the GCS address decides."""
    for cmdline in sorted(proc.glob("[0-9]*/cmdline")):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(a.endswith(b"monitor.py") for a in args) or f"--gcs-address={gcs_address}".encode() not in args:
            continue
        for arg in args:
            if arg.startswith(b"--autoscaling-config="):
                return Path(arg.split(b"=", 1)[1].decode(errors="replace")).expanduser()
    return None


def node_types_of(config: Path) -> tuple[NodeShape, ...] | None:
    """Worker node types of an autoscaling config (YAML or JSON); None when it cannot be read."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text())
        types: Mapping[str, Mapping[str, Any]] = data["available_node_types"]
        head = data.get("head_node_type")
        return tuple(NodeShape(float(t.get(RESOURCES, {}).get("CPU", 0)), float(t.get(RESOURCES, {}).get("GPU", 0)),
                               int(t.get("max_workers", data.get("max_workers", 0))))
                     for name, t in types.items() if name != head)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError):
        return None


@dataclass
class GpuWait:
    """Waiting for nodes that can hold the study's trials: asks the autoscaler, prints what it waits for,
    and returns how long it waited; refused with a :class:`ResourceError` after ``wait_s``."""

    what: str  # "study dm_mnist"
    cpu: float
    gpu: float
    slots: int  # trials the study runs side by side: what the autoscaler is asked to fit
    wait_s: float
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    capacity: Callable[[], Capacity] = cluster_capacity
    sleep: Callable[[float], None] = time.sleep

    def run(self, cap: Capacity) -> float:
        if cap.fits_now(self.cpu, self.gpu):
            return 0.0
        shape = f"{self.gpu:g} GPU + {self.cpu:g} CPU per trial"
        if cap.can_fit(self.cpu, self.gpu) is False:
            raise ResourceError(impossible(self.what, self.cpu, self.gpu, cap))
        if self.wait_s <= 0:
            raise ResourceError(f"{self.what}: no node of the cluster can take a trial now ({shape}) and "
                                f"resources.wait_s is 0; start a GPU node or set resources.wait_s (seconds to wait)")
        if cap.autoscaler:
            request_slots(self.cpu, self.gpu, self.slots)
        self.say(f"[dd_tune] {self.what}: waiting up to {self.wait_s:.0f} s for a node that can take a trial "
                 f"({shape}; the cluster has {cap.gpus_now:g} GPU(s) up): "
                 + (f"asked the autoscaler for {self.slots} such slot(s); a cloud GPU node takes minutes to boot "
                    f"and set up" if cap.autoscaler else
                    "no autoscaler runs, so only a node started by hand (ray start --address ...) can bring one"))
        t0, said = time.time(), time.time()
        while time.time() - t0 < self.wait_s:
            self.sleep(POLL_S)
            now = self.capacity()
            if now.fits_now(self.cpu, self.gpu):
                waited = time.time() - t0
                self.say(f"[dd_tune] {self.what}: {now.gpus_now:g} GPU(s) up after {waited:.0f} s; starting")
                return waited
            if time.time() - said >= SAY_EVERY_S:
                said = time.time()
                self.say(f"[dd_tune] {self.what}: still waiting for a GPU node ({time.time() - t0:.0f} of "
                         f"{self.wait_s:.0f} s)")
        release_request(cap.autoscaler)
        raise ResourceError(f"{self.what}: no node that can take a trial ({shape}) came up within "
                            f"resources.wait_s={self.wait_s:g} s; check `ray status` (node launch failures, cloud "
                            f"quota) or raise resources.wait_s")


def impossible(what: str, cpu: float, gpu: float, cap: Capacity) -> str:
    shapes = sorted({(t.gpu, t.cpu) for t in (*cap.alive, *(cap.node_types or ()))}, reverse=True)
    have = ", ".join(f"{g:g} GPU + {c:g} CPU" for g, c in shapes) or "none"
    return (f"{what} asks for {gpu:g} GPU + {cpu:g} CPU per trial, but no node the cluster has or can start "
            f"holds that (nodes and node types: {have}); lower resources.gpu / resources.cpu or add a node type")


def request_slots(cpu: float, gpu: float, slots: int) -> None:
    """Ask the autoscaler to fit ``slots`` trials of this shape (persistent until released)."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=[{"CPU": cpu, "GPU": gpu}] * max(1, slots))


def release_request(autoscaler: bool) -> None:
    """Withdraw the study's request, so the autoscaler may scale idle GPU nodes down again."""
    if not autoscaler:
        return
    try:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[])
    except Exception:  # noqa: BLE001 - the cluster may be gone already; nothing to release then
        pass


def describe(cap: Capacity) -> str:
    """One line on what the cluster has and can start, for the console."""
    gpus = f"{cap.gpus_now:g} GPU(s) up on {len(cap.alive)} node(s)"
    if not cap.autoscaler:
        return gpus
    if cap.node_types is None:
        return gpus + "; an autoscaler runs (its node types are not readable from here)"
    types = ", ".join(f"{t.count} x ({t.gpu:g} GPU, {t.cpu:g} CPU)" for t in cap.node_types)
    return gpus + f"; the autoscaler may start {types or 'nothing'}"


def shapes_of(nodes: Sequence[Mapping[str, Any]]) -> tuple[NodeShape, ...]:
    """Node shapes of ``ray.nodes()`` entries (alive ones)."""
    return tuple(NodeShape(float(n.get("Resources", {}).get("CPU", 0.0)),
                           float(n.get("Resources", {}).get("GPU", 0.0))) for n in nodes if n.get("Alive"))
