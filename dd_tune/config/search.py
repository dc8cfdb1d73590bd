"""The search block of a study: how many trials, ASHA on distillation progress, and the confirmation of
the finalists that chooses the tuned set (pure: no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dd_tune.config.schema import require


@dataclass(frozen=True)
class AshaConfig:
    """ASHA on distillation progress; ``grace_period`` counts reports (evaluation points)."""

    enabled: bool = True
    grace_period: int = 2
    reduction_factor: int = 2

    def __post_init__(self) -> None:
        require(self.grace_period >= 1, "grace_period", "must be >= 1")
        require(self.reduction_factor >= 2, "reduction_factor", "must be >= 2")


@dataclass(frozen=True)
class ConfirmConfig:
    """The confirmation after the search: the ``top_k`` trials by proxy and the reference defaults, each
    trained ``models`` times with the final protocol's epochs on the validation split; the tuned set is
    the best of that confirmation (``top_k`` 0: the best proxy score, no confirmation)."""

    top_k: int = 8
    models: int = 5
    # >0: the first images of a fixed shuffle of the validation split (for this and for the evaluation-lr
    # choice); 0 = all of it
    max_eval_images: int = 0
    # fresh models per finalist other than the chosen one and the defaults in the test pass, whose only
    # use is the proxy's fidelity (confirmation vs test); 0 = the final protocol's models
    test_models: int = 0

    def __post_init__(self) -> None:
        require(self.max_eval_images >= 0, "max_eval_images", "must be >= 0")
        require(self.test_models >= 0, "test_models", f"must be >= 0, got {self.test_models}")
        require(self.top_k >= 0, "top_k", f"must be >= 0, got {self.top_k}")
        require(self.models >= 1, "models", f"must be >= 1, got {self.models}")


@dataclass(frozen=True)
class SearchConfig:
    space: str  # name of search_spaces/<space>.yaml
    num_samples: int = 32
    max_concurrent_trials: int = 4
    report_every: int = 2000  # distillation iterations between proxy evaluations (reports)
    params: dict[str, Any] = field(default_factory=dict)  # per-key replacements of the space
    exclude: tuple[str, ...] = ()  # space keys not searched (they keep the distill value)
    asha: AshaConfig = AshaConfig()
    confirm: ConfirmConfig = ConfirmConfig()
    max_failures: int = 1  # retries of a crashed trial from its last checkpoint
    # trials in batches of max_concurrent_trials, TPE reseeded per trial number, early stopping against
    # earlier batches only: the same trials whatever order they finish in (dd_tune.search.ordered).
    # False: Ray's ASHA and a free-running TPE, which fill idle slots sooner but fork with timing.
    deterministic: bool = True
    # once per study, a short trial in-process and in Ray Tune: Ray's overhead in the report's time table
    overhead_probe: bool = True
    # the space grows to hold the defaults where they lie outside it (a categorical gains the value, a
    # range its bound); set by a preset switched from the command line (`--set distill.preset=mtt`), whose
    # defaults the study's space was not written for. Off: a default outside the space is an error.
    widen_to_defaults: bool = False

    def __post_init__(self) -> None:
        require(self.num_samples >= 1, "num_samples", f"must be >= 1, got {self.num_samples}")
        require(self.max_concurrent_trials >= 1, "max_concurrent_trials", "must be >= 1")
        require(self.report_every >= 1, "report_every", "must be >= 1")
        require(self.max_failures >= 0, "max_failures", "must be >= 0")
