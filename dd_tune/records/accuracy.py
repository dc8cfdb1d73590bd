"""One set on one architecture in the test pass, typed: the accuracies of fresh models and their summary."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from dd_tune.records.document import JsonValue
from dd_tune.records.stats import by_draws, summary


@dataclass(frozen=True)
class SetAccuracy:
    """One set on one architecture in the test pass: the accuracies (%) of fresh models and their summary.

    ``runs`` are the statistical units: one value per fresh model, or for random real one per **draw**
    (the mean of its models; ``models`` and ``draws`` keep every model's value). ``mean``, ``std`` (sample),
    ``n`` and ``ci95`` (95 % t-interval, None for n < 2) summarise ``runs``."""

    runs: list[float]
    mean: float
    std: float
    n: int
    ci95: list[float] | None
    lr: float | None = None  # the evaluation's learning rate
    lr_learned: bool = False  # the set's own learned step size (PAD) rather than the protocol's
    balanced: list[float] = field(default_factory=list)  # balanced accuracy per unit (imbalanced test splits)
    models: list[float] = field(default_factory=list)  # random real: every model's accuracy
    draws: list[list[float]] = field(default_factory=list)  # random real: each draw's models
    draw_means: list[float] = field(default_factory=list)
    draw_std: float = 0.0

    @classmethod
    def of_runs(cls, runs: Sequence[float], **extra: Any) -> "SetAccuracy":
        """Fresh models as the unit."""
        return cls(runs=[float(v) for v in runs], **{**summary(runs), **extra})

    @classmethod
    def of_draws(cls, draws: Sequence[Sequence[float]], **extra: Any) -> "SetAccuracy":
        """Draws of real images as the unit (:func:`dd_tune.records.stats.by_draws`)."""
        return cls(**{**by_draws(draws), **extra})

    def to_json(self) -> dict[str, JsonValue]:
        """report.json's layout: the fields by name."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SetAccuracy":
        """From ``report.json``; a random-real entry of earlier versions, whose ``runs`` pooled every model,
        is made over to the draw as the unit."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        if values.get("draws") and "models" not in d:
            values.update(by_draws(values["draws"]))
        return cls(**{"runs": [], **summary(values.get("runs") or []), **values})


Reeval = dict[str, dict[str, SetAccuracy]]  # set -> architecture -> its accuracy
