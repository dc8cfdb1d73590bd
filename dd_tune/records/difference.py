"""A difference between two rows, typed: its mean, 95 % interval, the units it counts and how it paired.

The JSON layout is the record's fields (``diff``, ``ci95``, ``n``, ``kind``, ``covers_zero``), as
report.json and compare.json have always written them; a row difference of a study adds ``a``, ``b``
and ``arch``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

from dd_tune.records.document import JsonValue, integer, number, optional_integer

Kind = Literal["paired", "welch", "same"]
KINDS: tuple[Kind, ...] = ("paired", "welch", "same")


@dataclass(frozen=True)
class Difference:
    """``a - b``: ``diff`` (NaN when nothing could be compared), its 95 % interval (None with too few
    units), ``n`` the units it counts, ``kind`` paired by model seed, Welch's (independent samples) or
    "same" (one set compared with itself), and whether the interval covers 0 (None without one)."""

    diff: float
    ci95: tuple[float, float] | None
    n: int
    kind: Kind
    covers_zero: bool | None

    def to_json(self) -> dict[str, JsonValue]:
        return {"diff": self.diff, "ci95": list(self.ci95) if self.ci95 else None, "n": self.n, "kind": self.kind,
                "covers_zero": self.covers_zero}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "Difference":
        ci = d.get("ci95")
        kind = d.get("kind")
        covers = d.get("covers_zero")
        return cls(diff=number(d.get("diff"), math.nan),
                   ci95=(float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None,
                   n=integer(d.get("n")), kind=kind if kind in KINDS else "paired",
                   covers_zero=covers if isinstance(covers, bool) else None)


@dataclass(frozen=True)
class RowDifference:
    """Row ``a`` minus row ``b`` of a study's test pass on one architecture (across a suite's studies, at
    ``ipc``; a study's own differences leave it None: the IPC holds them)."""

    a: str
    b: str
    arch: str
    difference: Difference
    ipc: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        at: dict[str, JsonValue] = {} if self.ipc is None else {"ipc": self.ipc}
        return {**at, "arch": self.arch, "a": self.a, "b": self.b, **self.difference.to_json()}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "RowDifference":
        return cls(str(d.get("a")), str(d.get("b")), str(d.get("arch")), Difference.from_json(d),
                   optional_integer(d.get("ipc")))
