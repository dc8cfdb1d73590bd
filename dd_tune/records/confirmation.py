"""The confirmation of the finalists, typed: each finalist's validation accuracy over fresh models, its
paired difference to the reference defaults, which one was chosen, and the settings it ran with.

The JSON layout is report.json's: a finalist row spreads its accuracy's fields beside its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

from dd_tune.base.keys import DEFAULT
from dd_tune.records.accuracy import SetAccuracy
from dd_tune.records.difference import Difference
from dd_tune.records.document import Document, JsonValue, document, integer, optional_number

_OWN = ("name", "is_default", "proxy", "iterations", "config", "arch", "vs_default", "chosen")


@dataclass(frozen=True)
class Finalist:
    """One finalist: a trial (``t03``) or the reference defaults (``default``); its last proxy score (None:
    never scored), the iterations behind its set (-1: the full budget), its configuration, the
    confirmation's architecture and accuracy on the validation split, its paired difference to the
    defaults (None for the defaults themselves) and whether it was chosen."""

    name: str
    is_default: bool
    proxy: float | None
    iterations: int
    config: Document
    arch: str
    accuracy: SetAccuracy
    vs_default: Difference | None = None
    chosen: bool = False

    @property
    def mean(self) -> float:
        """The confirmation's mean validation accuracy (the proxy score where nothing was confirmed)."""
        return self.accuracy.mean

    def to_json(self) -> dict[str, JsonValue]:
        return {"name": self.name, "is_default": self.is_default, "proxy": self.proxy, "iterations": self.iterations,
                "config": self.config, "arch": self.arch, **self.accuracy.to_json(),
                "vs_default": self.vs_default.to_json() if self.vs_default else None, "chosen": self.chosen}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "Finalist":
        vs = d.get("vs_default")
        is_default = d.get("is_default", d.get(DEFAULT))  # earlier versions named the flag "default"
        return cls(name=str(d.get("name")), is_default=bool(is_default), proxy=optional_number(d.get("proxy")),
                   iterations=integer(d.get("iterations"), -1), config=document(d.get("config")),
                   arch=str(d.get("arch", "convnet")),
                   accuracy=SetAccuracy.from_dict({k: v for k, v in d.items() if k not in _OWN}),
                   vs_default=Difference.from_json(vs) if isinstance(vs, Mapping) else None,
                   chosen=bool(d.get("chosen")))


@dataclass(frozen=True)
class Confirmation:
    """The finalists in proxy order and the verdict in words; the fresh models per finalist, how many trials
    were finalists at most, the architecture and epochs, and the models of the test column."""

    rows: tuple[Finalist, ...]
    verdict: str
    models: int
    top_k: int
    arch: str
    epochs: int
    test_models: int

    @property
    def chosen(self) -> Finalist | None:
        return next((r for r in self.rows if r.chosen), None)

    def to_json(self) -> dict[str, JsonValue]:
        return {"rows": [r.to_json() for r in self.rows], "verdict": self.verdict, "models": self.models,
                "top_k": self.top_k, "arch": self.arch, "epochs": self.epochs, "test_models": self.test_models}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "Confirmation | None":
        """None for a report without a confirmation (written before dd_tune confirmed finalists)."""
        rows = d.get("rows")
        if not isinstance(rows, Sequence) or not rows:
            return None
        return cls(rows=tuple(Finalist.from_json(r) for r in rows if isinstance(r, Mapping)),
                   verdict=str(d.get("verdict", "")), models=integer(d.get("models")), top_k=integer(d.get("top_k")),
                   arch=str(d.get("arch", "convnet")), epochs=integer(d.get("epochs")),
                   test_models=integer(d.get("test_models")))


def with_choice(rows: Sequence[Finalist], chosen: str) -> list[Finalist]:
    """The rows with ``chosen`` marked (and no other)."""
    return [dataclasses.replace(r, chosen=r.name == chosen) for r in rows]
