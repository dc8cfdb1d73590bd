"""The name of a set in a test pass, typed: the one parser and printer of set names.

Most rows are named once and never taken apart (``best``, ``default``, ``best_start``, a named point, a
finalist ``t03``). The random-real baseline is a family: each draw is a row of its own
(``random_real_draw3``), pooled into one row per formation factor (``random_real``; ``random_real_x2``
for the multi-formation baseline, two by two real images tiled into each stored image, with its draws
``random_real_x2_draw1``...). Only this module composes or splits those names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dd_tune.base.keys import RANDOM_REAL

_RANDOM_REAL = re.compile(rf"{RANDOM_REAL}(?:_x(?P<factor>[1-9][0-9]*))?(?:_draw(?P<draw>[1-9][0-9]*))?")


@dataclass(frozen=True)
class SetId:
    """A set's name: ``name`` for any row outside the random-real family; for random real ``name`` is
    ``random_real``, with its formation ``factor`` (1: plain real images) and its ``draw`` (None: the row
    pooled over draws)."""

    name: str
    factor: int = 1
    draw: int | None = None

    @classmethod
    def parse(cls, text: str) -> "SetId":
        """``random_real_x2_draw1`` -> SetId("random_real", 2, 1); any other name stays whole."""
        match = _RANDOM_REAL.fullmatch(text)
        if match is None or match["factor"] == "1":  # random_real_x1 is not a name dd_tune prints
            return cls(text)
        return cls(RANDOM_REAL, int(match["factor"] or 1), int(match["draw"]) if match["draw"] else None)

    @classmethod
    def random_real(cls, factor: int = 1, draw: int | None = None) -> "SetId":
        """A random-real row: one draw (``draw`` from 1), or the row pooled over the draws."""
        if factor < 1 or (draw is not None and draw < 1):
            raise ValueError(f"random real takes factor >= 1 and draw >= 1, got factor {factor}, draw {draw}")
        return cls(RANDOM_REAL, factor, draw)

    @property
    def is_random_real(self) -> bool:
        return self.name == RANDOM_REAL

    @property
    def is_draw(self) -> bool:
        """One draw of random real, pooled into :attr:`pooled` in the report."""
        return self.is_random_real and self.draw is not None

    @property
    def pooled(self) -> "SetId":
        """The row a draw is pooled into (itself for every other set)."""
        return SetId(self.name, self.factor) if self.is_draw else self

    def __str__(self) -> str:
        if not self.is_random_real:
            return self.name
        return self.name + (f"_x{self.factor}" if self.factor > 1 else "") + (f"_draw{self.draw}" if self.draw else "")


def is_random_real(name: str) -> bool:
    """Whether a row belongs to the random-real family (a draw or a pooled row, any factor)."""
    return SetId.parse(name).is_random_real
