"""What a study cost, typed: FLOP counts (fvcore: one multiply-add is one FLOP), the expert stage, and
Ray's overhead on one trial. JSON: report.json's ``flops``, ``expert_stage`` and ``overhead_probe``
blocks, as they have always been written (``{}`` where a study had none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from dd_tune.records.document import JsonValue, integer, number, optional_number


def _counts(d: object) -> dict[str, int]:
    return {str(k): integer(v) for k, v in d.items()} if isinstance(d, Mapping) else {}


@dataclass(frozen=True)
class FlopCount:
    """Forward FLOPs per image of each test architecture, the distillation of the tuned and of the default
    configuration (each method's own passes), and one evaluation run per architecture."""

    forward_per_image: dict[str, int]
    distillation_best: int
    distillation_default: int
    evaluation_one_run: dict[str, int]

    def to_json(self) -> dict[str, JsonValue]:
        return {"forward_per_image": dict(self.forward_per_image), "distillation_best": self.distillation_best,
                "distillation_default": self.distillation_default, "evaluation_one_run": dict(self.evaluation_one_run)}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "FlopCount":
        return cls(_counts(d.get("forward_per_image")), integer(d.get("distillation_best")),
                   integer(d.get("distillation_default")), _counts(d.get("evaluation_one_run")))


@dataclass(frozen=True)
class ExpertFlops:
    """PAD's expert stage: difficulty scoring (once per scoring setup) and the training of every expert."""

    difficulty: int
    training: int


@dataclass(frozen=True)
class ExpertStage:
    """The expert stage of a trajectory-matching study: experts needed, trained now and found cached, the
    recipes, its FLOPs, wall and task seconds, where it ran, the nodes that died while it ran."""

    experts: int
    trained: int
    reused: int
    recipe: str
    flops: ExpertFlops | None
    seconds: float
    task_seconds: float
    cpu_seconds: float
    gpu_seconds: float
    dir: str
    places: dict[str, int] = field(default_factory=dict)
    dead_nodes: int = 0

    def to_json(self) -> dict[str, JsonValue]:
        flops: JsonValue = {"difficulty": self.flops.difficulty, "training": self.flops.training} if self.flops else {}
        return {"experts": self.experts, "trained": self.trained, "reused": self.reused, "recipe": self.recipe,
                "flops": flops, "seconds": self.seconds, "task_seconds": self.task_seconds,
                "cpu_seconds": self.cpu_seconds, "gpu_seconds": self.gpu_seconds, "dir": self.dir,
                "places": dict(self.places), "dead_nodes": self.dead_nodes}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "ExpertStage | None":
        """None for a study without an expert stage (``{}``)."""
        if not d:
            return None
        flops = d.get("flops")
        return cls(integer(d.get("experts")), integer(d.get("trained")), integer(d.get("reused")),
                   str(d.get("recipe") or ""),
                   ExpertFlops(integer(flops.get("difficulty")), integer(flops.get("training")))
                   if isinstance(flops, Mapping) and flops else None,
                   number(d.get("seconds")), number(d.get("task_seconds")), number(d.get("cpu_seconds")),
                   number(d.get("gpu_seconds")), str(d.get("dir") or ""), _counts(d.get("places")),
                   integer(d.get("dead_nodes")))


@dataclass(frozen=True)
class OverheadProbe:
    """Ray's overhead on one trial of ``iterations``: the same trial in-process, as a fresh Ray trial and
    in a reused worker (seconds), and the probe's own wall time; or why it could not be measured."""

    iterations: int
    in_process_s: float | None = None
    ray_s: float | None = None
    ray_reused_s: float | None = None
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        if self.error is not None:
            return {"iterations": self.iterations, "error": self.error, "seconds": self.seconds}
        return {"iterations": self.iterations, "in_process_s": self.in_process_s, "ray_s": self.ray_s,
                "ray_reused_s": self.ray_reused_s, "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "OverheadProbe | None":
        """None when the study did not measure it (``{}``)."""
        if not d:
            return None
        error = d.get("error")
        return cls(integer(d.get("iterations")), optional_number(d.get("in_process_s")),
                   optional_number(d.get("ray_s")), optional_number(d.get("ray_reused_s")), number(d.get("seconds")),
                   None if error is None else str(error))
