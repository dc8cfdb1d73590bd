"""How far the cheap proxy can be trusted: rank correlations between the search's proxy score, the
confirmation on the validation split and the test accuracy of the confirmed sets, and the regret of
picking by the proxy alone, as typed records. Plain numbers in, plain numbers out (no Ray, no torch).

Kendall's tau-b (ties counted as SciPy's ``kendalltau`` does) with n, the number of sets ranked. Across a
suite the studies are pooled by counting concordant and discordant pairs *within* each study only (the
methods' accuracies are on different scales) into one tau-b: (C - D) / sqrt((C + D + Tx)(C + D + Ty)) over all
within-study pairs (Tx, Ty: pairs tied in one ranking only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from dd_tune.records.confirmation import Finalist
from dd_tune.records.document import JsonValue, integer, number, optional_number, optional_text


def _pairs(xs: Sequence[float], ys: Sequence[float]) -> tuple[int, int, int, int]:
    """(concordant, discordant, tied in x only, tied in y only) over all pairs."""
    c = d = tx = ty = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                c += 1
            else:
                d += 1
    return c, d, tx, ty


@dataclass(frozen=True)
class Tau:
    """Kendall's tau-b over ``n`` sets (None with fewer than two, or when a ranking is all ties)."""

    tau: float | None
    n: int

    def to_json(self) -> dict[str, JsonValue]:
        return {"tau": self.tau, "n": self.n}

    @classmethod
    def from_json(cls, d: object) -> "Tau":
        return cls(optional_number(d.get("tau")), integer(d.get("n"))) if isinstance(d, Mapping) else cls(None, 0)


@dataclass(frozen=True)
class PooledTau:
    """Within-group pairs of several studies pooled into one tau-b: the pairs, the sets and the groups."""

    tau: float | None
    pairs: int
    n: int
    groups: int


def _finite_pairs(xs: Sequence[float | None], ys: Sequence[float | None]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(xs, ys) if x is not None and y is not None
            and math.isfinite(float(x)) and math.isfinite(float(y))]


def kendall_tau(xs: Sequence[float | None], ys: Sequence[float | None]) -> Tau:
    """Tau-b over the pairs where both values are finite."""
    pts = _finite_pairs(xs, ys)
    if len(pts) < 2:
        return Tau(None, len(pts))
    c, d, tx, ty = _pairs([p[0] for p in pts], [p[1] for p in pts])
    denom = math.sqrt((c + d + tx) * (c + d + ty))
    return Tau((c - d) / denom if denom else None, len(pts))


def pooled_tau(groups: Sequence[tuple[Sequence[float | None], Sequence[float | None]]]) -> PooledTau:
    """Within-group pairs of several (xs, ys) groups pooled into one tau-b (ties in one ranking count in
    the denominator, as in :func:`kendall_tau`; without ties it is (C - D) / (C + D))."""
    c = d = tx = ty = n = used = 0
    for xs, ys in groups:
        pts = _finite_pairs(xs, ys)
        if len(pts) < 2:
            continue
        gc, gd, gtx, gty = _pairs([p[0] for p in pts], [p[1] for p in pts])
        c, d, tx, ty, n, used = c + gc, d + gd, tx + gtx, ty + gty, n + len(pts), used + 1
    denom = math.sqrt((c + d + tx) * (c + d + ty))
    return PooledTau((c - d) / denom if denom else None, c + d + tx + ty, n, used)


@dataclass(frozen=True)
class Fidelity:
    """How far the proxy can be trusted at one IPC: the three rank correlations over the finalists
    (``sets``, with their proxy, confirmation and test means), the best finalist's test accuracy and
    the regret of picking by the proxy alone and by the confirmation (None where unknown), and the picks."""

    proxy_vs_confirmation: Tau
    confirmation_vs_test: Tau
    proxy_vs_test: Tau
    sets: tuple[str, ...]
    proxy: tuple[float | None, ...]
    confirmation: tuple[float, ...]
    test: tuple[float | None, ...]
    best_test: float | None = None
    regret_proxy: float | None = None
    regret_confirmation: float | None = None
    proxy_pick: str | None = None
    confirmation_pick: str | None = None

    def test_of(self, name: str) -> float | None:
        """A finalist's test mean on the confirmation's architecture."""
        return dict(zip(self.sets, self.test)).get(name)

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "proxy_vs_confirmation": self.proxy_vs_confirmation.to_json(),
            "confirmation_vs_test": self.confirmation_vs_test.to_json(), "proxy_vs_test": self.proxy_vs_test.to_json(),
            "sets": list(self.sets), "proxy": list(self.proxy), "confirmation": list(self.confirmation),
            "test": list(self.test)}
        if self.best_test is not None:  # written only when a finalist's test accuracy was known
            out.update(best_test=self.best_test, regret_proxy=self.regret_proxy,
                       regret_confirmation=self.regret_confirmation)
        return {**out, "proxy_pick": self.proxy_pick, "confirmation_pick": self.confirmation_pick}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "Fidelity | None":
        """None for a report without one (``{}``: written before dd_tune measured the proxy's fidelity)."""
        if not d:
            return None

        def seq(key: str) -> list[object]:
            value = d.get(key)
            return list(value) if isinstance(value, list) else []

        return cls(Tau.from_json(d.get("proxy_vs_confirmation")), Tau.from_json(d.get("confirmation_vs_test")),
                   Tau.from_json(d.get("proxy_vs_test")), tuple(str(s) for s in seq("sets")),
                   tuple(optional_number(v) for v in seq("proxy")),
                   tuple(number(v, math.nan) for v in seq("confirmation")),
                   tuple(optional_number(v) for v in seq("test")), optional_number(d.get("best_test")),
                   optional_number(d.get("regret_proxy")), optional_number(d.get("regret_confirmation")),
                   optional_text(d.get("proxy_pick")), optional_text(d.get("confirmation_pick")))


def fidelity(rows: Sequence[Finalist], test: Mapping[str, float | None]) -> Fidelity:
    """From the confirmation's finalists and the test means of the same sets: tau(proxy, confirmation),
    tau(confirmation, test), and the test-accuracy regret of the proxy's pick and of the confirmation's
    pick against the best confirmed set on the test split."""
    names = [r.name for r in rows]
    proxy = [r.proxy for r in rows]
    conf = [r.mean for r in rows]
    tests = [test.get(n) for n in names]
    known = {n: t for n, t in zip(names, tests) if t is not None and math.isfinite(t)}
    scored = [r for r in rows if r.proxy is not None]
    by_proxy = max(scored, key=lambda r: r.proxy or 0.0).name if scored else None
    chosen = next((r.name for r in rows if r.chosen), None)
    best = max(known.values()) if known else None
    return Fidelity(
        kendall_tau(proxy, conf), kendall_tau(conf, tests), kendall_tau(proxy, tests), tuple(names), tuple(proxy),
        tuple(conf), tuple(tests), best,
        regret_proxy=best - known[by_proxy] if best is not None and by_proxy in known else None,
        regret_confirmation=best - known[chosen] if best is not None and chosen in known else None,
        proxy_pick=by_proxy, confirmation_pick=chosen)
