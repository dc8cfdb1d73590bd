"""Where a job really runs: the device a Ray GPU grant turns into, checked, and a record of it.

Ray schedules GPUs as numbers: it gives a task a GPU share whether or not CUDA works on that node. A
trial that silently fell back to the CPU would turn a GPU study's hours into weeks without a word, so a
job that Ray gave a GPU but that cannot see CUDA fails, naming its node. The one exception is a cluster
whose GPUs are declared, not real (``resources.simulated_gpus``: Ray's multi-node test harness), where
the job runs on the CPU and its record says "simulated GPU".

Every trial, expert task and evaluation job records a :class:`Placement` (node, device, GPU share) so
the report says where the work ran.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import asdict, dataclass
from typing import Any

import torch

from dd_tune.base.errors import ResourceError

SIMULATED = "cpu (simulated GPU)"
# runs of a Ray task whose worker or node died: Ray's default, written out because "a dead node loses
# nothing" is dd_tune's promise (every task is seeded, so a rerun elsewhere gives the same result)
TASK_RETRIES = 3


@dataclass(frozen=True)
class Placement:
    node: str  # the node's address ("driver" outside Ray)
    device: str  # "cuda:0 (NVIDIA H100 80GB HBM3)", "cpu", "cpu (simulated GPU)"
    gpu: float  # the GPU share Ray gave the job (0: none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        """``cpu (simulated GPU), 0.5 GPU`` / ``cuda:0 (A10G), 0.25 GPU`` / ``cpu``."""
        return self.device + (f", {self.gpu:g} GPU" if self.gpu else "")


def _ray() -> Any:
    """Ray if this process already imported it (a worker always has): no import cost elsewhere."""
    return sys.modules.get("ray")


def in_ray_worker() -> bool:
    ray = _ray()
    return bool(ray is not None and ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE)


def granted_gpu() -> float:
    """The GPU share Ray gave the running task or actor (0 outside a Ray worker). Inside a placement
    group Ray names the resource ``GPU_group_<i>_<pg>`` (and ``GPU_group_<pg>``): the indexed one counts."""
    if not in_ray_worker():
        return 0.0
    assigned = _ray().get_runtime_context().get_assigned_resources()
    if "GPU" in assigned:
        return float(assigned["GPU"])
    indexed = [v for k, v in assigned.items() if k.startswith("GPU_group_") and k.split("_")[2].isdigit()]
    plain = [v for k, v in assigned.items() if k.startswith("GPU_group_") and not k.split("_")[2].isdigit()]
    return float(sum(indexed) if indexed else sum(plain))


def node_name() -> str:
    ray = _ray()
    if in_ray_worker():
        node_id = ray.get_runtime_context().get_node_id()[:8]
        return f"{ray.util.get_node_ip_address()} ({socket.gethostname()}, node {node_id})"
    return socket.gethostname()


def job_device(use_gpu: bool, simulated: bool) -> torch.device:
    """The device of this process's work. In a Ray worker the grant decides: a GPU share means CUDA, or a
    :class:`ResourceError` naming the node (the CPU where the GPUs are simulated); no share means CPU.
    Outside Ray (the driver, the ``distill`` command) CUDA is used where ``use_gpu`` and present."""
    if not in_ray_worker():
        return torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    if granted_gpu() <= 0:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if simulated:
        return torch.device("cpu")
    raise ResourceError(
        f"Ray gave this job {granted_gpu():g} GPU on node {node_name()}, but CUDA is not usable there "
        f"(torch.cuda.is_available() is False: no driver, a CPU-only torch, or CUDA_VISIBLE_DEVICES="
        f"{_visible()}); fix that node, or run on CPUs with --set resources.gpu=0")


def _visible() -> str:
    import os

    return repr(os.environ.get("CUDA_VISIBLE_DEVICES"))


def placement(use_gpu: bool, simulated: bool) -> Placement:
    """Where this job runs (checks the device first: see :func:`job_device`)."""
    device = job_device(use_gpu, simulated)
    share = granted_gpu()
    if device.type == "cuda":
        index = torch.cuda.current_device()
        label = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    else:
        label = SIMULATED if share > 0 else "cpu"
    return Placement(node_name() if in_ray_worker() else "driver", label, share)
