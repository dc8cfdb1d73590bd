"""The rows tested with the evaluation learning rate chosen on validation, typed: each row's accuracy and
the choice behind it (the lr, and every lr's mean validation accuracy); random real chooses per draw.

JSON (report.json's ``lr_protocol``: set -> architecture -> row): the accuracy's fields, then ``lr`` and
``val`` for a row chosen once, ``choices`` (one ``{lr, val}`` per draw) for random real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from dd_tune.records.accuracy import SetAccuracy
from dd_tune.records.document import JsonValue, number

_CHOICE_KEYS = ("lr", "val", "choices")


@dataclass(frozen=True)
class LrChoice:
    """The lr with the best mean validation accuracy, and that mean for every lr of the grid."""

    lr: float
    val: dict[float, float]

    def to_json(self) -> dict[str, JsonValue]:
        return {"lr": self.lr, "val": {str(lr): acc for lr, acc in self.val.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "LrChoice":
        val = d.get("val")
        means = {float(lr): number(acc, float("nan")) for lr, acc in val.items()} if isinstance(val, Mapping) else {}
        return cls(number(d.get("lr")), means)


@dataclass(frozen=True)
class LrRow:
    """One row on one architecture, tested at its chosen lr: its accuracy, and its choice (one for a set,
    ``choices`` with one per draw for random real)."""

    accuracy: SetAccuracy
    choice: LrChoice | None = None
    choices: tuple[LrChoice, ...] = ()

    @property
    def picks(self) -> tuple[LrChoice, ...]:
        """Every choice behind the row: its own, or each draw's."""
        return (self.choice,) if self.choice else self.choices

    def to_json(self) -> dict[str, JsonValue]:
        own: dict[str, JsonValue] = self.choice.to_json() if self.choice else {
            "choices": [c.to_json() for c in self.choices]}
        return {**self.accuracy.to_json(), **own}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "LrRow":
        choices = d.get("choices")
        accuracy = SetAccuracy.from_dict({k: v for k, v in d.items() if k not in _CHOICE_KEYS[1:]})
        if isinstance(choices, list):
            return cls(accuracy, None, tuple(LrChoice.from_json(c) for c in choices if isinstance(c, Mapping)))
        return cls(accuracy, LrChoice.from_json(d) if "lr" in d else None)


LrRows = dict[str, dict[str, LrRow]]  # set -> architecture -> its row


def lr_rows_from_json(d: object) -> LrRows:
    if not isinstance(d, Mapping):
        return {}
    return {str(name): {str(arch): LrRow.from_json(row) for arch, row in by_arch.items() if isinstance(row, Mapping)}
            for name, by_arch in d.items() if isinstance(by_arch, Mapping)}
