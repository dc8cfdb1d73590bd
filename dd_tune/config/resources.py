"""Per-trial resources of a study, and how long a study on a cluster waits for GPU nodes (pure: no Ray)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from dd_tune.config.schema import require

DEFAULT_CLUSTER_WAIT_S = 1200.0  # a cloud GPU instance takes minutes to boot, then setup_commands install dd_tune
MAX_WAIT_S = 86400.0


@dataclass(frozen=True)
class ResourcesConfig:
    """Per-trial resources. ``gpu: auto`` uses ``auto_gpu_fraction`` where the cluster has or can start
    GPUs (its autoscaler's node types included), else CPU."""

    cpu: float = 1.0
    gpu: Union[Literal["auto"], float] = "auto"
    auto_gpu_fraction: float = 0.25  # DM/random-real are light: four trials share one GPU
    # how long a study on a cluster (--address) waits for GPU nodes that are not up yet (an autoscaler
    # starting them, or a node started by hand) before it is refused; None: 1200 s on a cluster. A local
    # instance never waits (its GPUs are known before it starts).
    wait_s: Union[float, None] = None
    # the cluster's GPUs are declared, not real (Ray's multi-node test harness): a job Ray gives a GPU runs
    # on the CPU and says "simulated GPU"; without it such a job fails, naming its node
    simulated_gpus: bool = False

    def __post_init__(self) -> None:
        require(self.cpu > 0, "cpu", f"must be > 0, got {self.cpu}")
        if self.gpu != "auto":
            require(0 <= self.gpu and (self.gpu <= 1 or float(self.gpu).is_integer()), "gpu",
                    f"must be 'auto', a fraction in [0, 1] or a whole number, got {self.gpu}")
        require(0 < self.auto_gpu_fraction <= 1, "auto_gpu_fraction", "must be in (0, 1]")
        require(self.wait_s is None or 0 <= self.wait_s <= MAX_WAIT_S, "wait_s",
                f"must be null (1200 s on a cluster) or in [0, {MAX_WAIT_S}] seconds, got {self.wait_s}")

    def wait_seconds(self, on_cluster: bool) -> float:
        """How long to wait for GPU nodes: ``wait_s`` (1200 s when unset) on a cluster, 0 locally."""
        if not on_cluster:
            return 0.0
        return DEFAULT_CLUSTER_WAIT_S if self.wait_s is None else float(self.wait_s)
