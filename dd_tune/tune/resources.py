"""What a trial asks for and what the cluster has or can start: checked before Ray starts (or right after
joining a cluster, where the study may wait for GPU nodes), so no trial waits forever for a GPU or more
CPUs than a node has, and no IPC asks for more images than a class holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dd_tune.base.errors import ConfigError, ResourceError
from dd_tune.config import StudyConfig
from dd_tune.core.splits import train_class_counts
from dd_tune.search.space import SearchSpace
from dd_tune.tune.capacity import Capacity, GpuWait, impossible


@dataclasses.dataclass(frozen=True)
class Resources:
    cpu: float
    gpu: float

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


def resolve_resources(study: StudyConfig, cap: Capacity) -> Resources:
    """What one trial asks for on the cluster ``cap`` describes. ``gpu: auto`` -> a GPU fraction where the
    cluster has GPUs or its autoscaler can start GPU nodes, else CPU. Refused at once: a request no node
    the cluster has or can start holds (Ray would leave such trials PENDING forever), and a GPU request
    on a local instance without GPUs. A GPU request that nodes not up yet may hold is waited for
    (:class:`dd_tune.tune.capacity.GpuWait`)."""
    r = study.resources
    gpu = (r.auto_gpu_fraction if cap.can_have_gpus else 0.0) if r.gpu == "auto" else float(r.gpu)
    what = f"study {study.name}"
    if gpu <= 0:
        largest = cap.largest_cpus
        if largest and r.cpu > largest and cap.node_types is None and not cap.autoscaler:
            raise ResourceError(f"{what} requests resources.cpu: {r.cpu:g} per trial but the largest Ray node has "
                                f"{largest:g} CPUs; use --set resources.cpu={max(1, int(largest))} "
                                f"(or more --num-cpus)")
        if cap.can_fit(r.cpu, 0.0) is False and cap.node_types is not None:
            raise ResourceError(impossible(what, r.cpu, 0.0, cap))
        return Resources(r.cpu, 0.0)
    if cap.local and cap.gpus_now <= 0:
        raise ResourceError(f"{what} requests gpu: {r.gpu} per trial but no GPU is visible to Ray; use --set "
                            f"resources.gpu=auto (GPU when present, else CPU) or resources.gpu=0")
    if cap.local and gpu > cap.gpus_now:
        raise ResourceError(f"{what} requests gpu: {r.gpu} per trial but only {cap.gpus_now:g} GPU(s) are visible")
    if cap.can_fit(r.cpu, gpu) is False:
        raise ResourceError(impossible(what, r.cpu, gpu, cap))
    return Resources(r.cpu, gpu)


def wait_for_nodes(study: StudyConfig, resources: Resources, cap: Capacity) -> float:
    """On a cluster, wait (up to ``resources.wait_s``) until a node can take one of the study's GPU
    trials, asking the autoscaler for them; seconds waited (0 when one is up, or on a local instance)."""
    if cap.local or resources.gpu <= 0:
        return 0.0
    return GpuWait(f"study {study.name}", resources.cpu, resources.gpu, study.search.max_concurrent_trials,
                   study.resources.wait_seconds(on_cluster=True)).run(cap)


def check_full_budget_on_cpu(what: str, can_have_gpus: bool, profile_chosen: bool, yes_cpu: bool) -> None:
    """A run of a default profile (the published budget, sized for GPUs) that nobody chose on a machine
    or cluster that has no GPU and cannot start one is refused: it would silently start days of CPU work.
    ``--profile`` or ``--yes-cpu`` says it is meant."""
    if can_have_gpus or profile_chosen or yes_cpu:
        return
    raise ResourceError(f"{what}: no GPU is visible, and without --profile the default profile runs the published, "
                        f"GPU-sized budget (hours to days on a CPU). Run --profile quick (minutes on a CPU) or "
                        f"--profile smoke, or pass --yes-cpu to run the full budget on the CPU anyway")


def check_ipcs(study: StudyConfig, space: SearchSpace, data_root: Path) -> None:
    """Every IPC the study may use fits the smallest class of its training split (after the validation
    carve and ``data.max_train_per_class``)."""
    d = study.data
    counts = train_class_counts(study.dataset, data_root, d.val_fraction, d.split_seed, d.max_train_per_class)
    ipcs = set(study.ipc) | set(space["ipc"].choices if "ipc" in space and space["ipc"].type == "categorical"
                                else [int(space["ipc"].bounds[1])] if "ipc" in space else [])
    smallest = min(counts)
    if max(ipcs) > smallest:
        raise ConfigError(f"IPC {max(ipcs)} exceeds the smallest class of {study.dataset}'s training split "
                          f"({smallest} images); choose an IPC <= {smallest}")
