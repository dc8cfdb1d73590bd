"""Where one IPC's wall time went, typed: the search, the confirmation, the test pass and the whole IPC,
with the trial slots that ran side by side and the deterministic search's batch width.

JSON: report.json's ``timing`` block (``search_s``, ``slots``, ``batch``, ``confirm_s``, ``final_eval_s``,
``wall_s``); ``{}`` in reports written before dd_tune timed its stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from dd_tune.base.keys import BATCH
from dd_tune.records.document import JsonValue, integer, number


@dataclass(frozen=True)
class IpcTiming:
    """Wall seconds of the search, of the confirmation of the finalists and of the evaluation-lr choice
    plus test pass, and of the IPC; ``slots`` trials at once; ``batch`` trials per deterministic batch
    (0: not batched)."""

    search_s: float
    slots: float
    batch: int
    confirm_s: float
    final_eval_s: float
    wall_s: float

    def to_json(self) -> dict[str, JsonValue]:
        return {"search_s": self.search_s, "slots": self.slots, BATCH: self.batch, "confirm_s": self.confirm_s,
                "final_eval_s": self.final_eval_s, "wall_s": self.wall_s}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "IpcTiming | None":
        if not d:
            return None
        return cls(number(d.get("search_s")), number(d.get("slots"), 1.0), integer(d.get(BATCH)),
                   number(d.get("confirm_s")), number(d.get("final_eval_s")), number(d.get("wall_s")))
