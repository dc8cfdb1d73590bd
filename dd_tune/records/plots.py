"""The figures of one IPC's search, typed: where each was written (None when it could not be drawn), the
parameter importances, the Pareto front of a search over IPC, and why a figure is missing.

JSON: report.json's ``plots`` block. The figures that can fail on their own (slice, contour, the Pareto
plot) and the importance evaluator are written only when they were attempted, as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping

from dd_tune.base.keys import IMAGES, METRIC
from dd_tune.records.document import Document, JsonValue, document, integer, number, optional_text

_OPTIONAL = ("importance_evaluator", "slice", "contour", "pareto_plot", "curves")


@dataclass(frozen=True)
class ParetoPoint:
    """A non-dominated trial of a search over IPC: its Optuna number, accuracy, images and parameters."""

    number: int
    val_acc: float
    images: int
    params: Document

    def to_json(self) -> dict[str, JsonValue]:
        return {"number": self.number, METRIC: self.val_acc, IMAGES: self.images, "params": self.params}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "ParetoPoint":
        return cls(integer(d.get("number")), number(d.get(METRIC)), integer(d.get(IMAGES)), document(d.get("params")))


@dataclass(frozen=True)
class SearchPlots:
    """Paths of the optimisation history, the importance plot (and its evaluator's name), the slice and
    contour plots, the accuracy-vs-iteration curves and the Pareto plot; the importances; the front."""

    history: str | None = None
    importance: str | None = None
    importances: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    importance_evaluator: str | None = None
    slice: str | None = None
    contour: str | None = None
    pareto: tuple[ParetoPoint, ...] | None = None  # None: not a search over IPC
    pareto_plot: str | None = None
    curves: str | None = None

    def moved(self, where: Callable[[str | None], str | None]) -> "SearchPlots":
        """The same figures at the paths ``where`` gives (a study read back from another folder)."""
        return dataclasses.replace(self, history=where(self.history), importance=where(self.importance),
                                   slice=where(self.slice), contour=where(self.contour),
                                   pareto_plot=where(self.pareto_plot), curves=where(self.curves))

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"history": self.history, "importance": self.importance,
                                     "importances": dict(self.importances), "notes": list(self.notes)}
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.pareto is not None:
            out["pareto"] = [p.to_json() for p in self.pareto]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "SearchPlots":
        importances, notes, pareto = d.get("importances"), d.get("notes"), d.get("pareto")
        return cls(
            history=optional_text(d.get("history")), importance=optional_text(d.get("importance")),
            importances={str(k): number(v) for k, v in importances.items()} if isinstance(importances, Mapping) else {},
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            importance_evaluator=optional_text(d.get("importance_evaluator")), slice=optional_text(d.get("slice")),
            contour=optional_text(d.get("contour")),
            pareto=tuple(ParetoPoint.from_json(p) for p in pareto if isinstance(p, Mapping))
            if isinstance(pareto, list) else None,
            pareto_plot=optional_text(d.get("pareto_plot")), curves=optional_text(d.get("curves")))
