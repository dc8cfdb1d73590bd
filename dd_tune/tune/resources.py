"""What a trial asks for and what the cluster has: checked before Ray starts (or right after joining a
cluster), so no trial waits forever for a GPU or more CPUs than a node has, and no IPC asks for more
images than a class holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dd_tune.base.errors import ConfigError, ResourceError
from dd_tune.config import StudyConfig
from dd_tune.core.splits import train_class_counts
from dd_tune.search.space import SearchSpace


@dataclasses.dataclass(frozen=True)
class Resources:
    cpu: float
    gpu: float

    @property
    def threads(self) -> int:
        return max(1, int(self.cpu))


def resolve_resources(study: StudyConfig, visible_gpus: float, node_cpus: float | None = None) -> Resources:
    """``gpu: auto`` -> a GPU fraction where GPUs exist, else CPU; an explicit GPU need fails fast, and
    so does a per-trial CPU request larger than the largest Ray node (``node_cpus``).

    Ray would otherwise leave such trials PENDING forever.
    """
    r = study.resources
    if node_cpus is not None and r.cpu > node_cpus:
        raise ResourceError(f"study {study.name} requests resources.cpu: {r.cpu:g} per trial but the largest Ray "
                            f"node has {node_cpus:g} CPUs; use --set resources.cpu={max(1, int(node_cpus))} "
                            f"(or more --num-cpus)")
    if r.gpu == "auto":
        return Resources(r.cpu, r.auto_gpu_fraction if visible_gpus > 0 else 0.0)
    if r.gpu > 0 and visible_gpus <= 0:
        raise ResourceError(
            f"study {study.name} requests gpu: {r.gpu} per trial but no GPU is visible to Ray; "
            f"use --set resources.gpu=auto (GPU when present, else CPU) or resources.gpu=0"
        )
    if r.gpu > visible_gpus:
        raise ResourceError(f"study {study.name} requests gpu: {r.gpu} per trial but only "
                            f"{visible_gpus:g} GPU(s) are visible")
    return Resources(r.cpu, float(r.gpu))


def check_full_budget_on_cpu(what: str, visible_gpus: float, profile_chosen: bool, yes_cpu: bool) -> None:
    """A run of a default profile (the published budget, sized for GPUs) that nobody chose on a machine
    or cluster without a GPU is refused: it would silently start days of CPU work. ``--profile`` or
    ``--yes-cpu`` says it is meant."""
    if visible_gpus > 0 or profile_chosen or yes_cpu:
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
