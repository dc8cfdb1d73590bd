"""How far the cheap proxy can be trusted: rank correlations between the search's proxy score, the
confirmation on the validation split and the test accuracy of the confirmed sets, and the regret of
picking by the proxy alone. Plain numbers in, plain numbers out (no Ray, no torch).

Kendall's tau-b (ties counted as SciPy's ``kendalltau`` does) with n, the number of sets ranked. Across a
suite the studies are pooled by counting concordant and discordant pairs *within* each study only (the
methods' accuracies are on different scales) into one tau-b: (C - D) / sqrt((C + D + Tx)(C + D + Ty)) over all
within-study pairs (Tx, Ty: pairs tied in one ranking only).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence


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


def kendall_tau(xs: Sequence[float | None], ys: Sequence[float | None]) -> dict[str, Any]:
    """``{"tau": tau-b or None, "n": sets}`` over the pairs where both values are finite."""
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if x is not None and y is not None
           and math.isfinite(float(x)) and math.isfinite(float(y))]
    n = len(pts)
    if n < 2:
        return {"tau": None, "n": n}
    c, d, tx, ty = _pairs([p[0] for p in pts], [p[1] for p in pts])
    denom = math.sqrt((c + d + tx) * (c + d + ty))
    return {"tau": (c - d) / denom if denom else None, "n": n}


def pooled_tau(groups: Sequence[tuple[Sequence[float], Sequence[float]]]) -> dict[str, Any]:
    """Within-group pairs of several (xs, ys) groups pooled into one tau-b (ties in one ranking count in
    the denominator, as in :func:`kendall_tau`; without ties it is (C - D) / (C + D)):
    ``{"tau", "pairs", "n", "groups"}``."""
    c = d = tx = ty = n = used = 0
    for xs, ys in groups:
        pts = [(float(x), float(y)) for x, y in zip(xs, ys) if x is not None and y is not None
               and math.isfinite(float(x)) and math.isfinite(float(y))]
        if len(pts) < 2:
            continue
        gc, gd, gtx, gty = _pairs([p[0] for p in pts], [p[1] for p in pts])
        c, d, tx, ty, n, used = c + gc, d + gd, tx + gtx, ty + gty, n + len(pts), used + 1
    denom = math.sqrt((c + d + tx) * (c + d + ty))
    return {"tau": (c - d) / denom if denom else None, "pairs": c + d + tx + ty, "n": n, "groups": used}


def fidelity(rows: Sequence[Mapping[str, Any]], test: Mapping[str, float | None]) -> dict[str, Any]:
    """From the confirmation rows (``name``, ``proxy``, ``mean``, ``chosen``) and the test means of the
    same sets: tau(proxy, confirmation), tau(confirmation, test), and the test-accuracy regret of the
    proxy's pick and of the confirmation's pick against the best confirmed set on the test split."""
    names = [r["name"] for r in rows]
    proxy = [r["proxy"] for r in rows]
    conf = [r["mean"] for r in rows]
    tests = [test.get(n) for n in names]
    out: dict[str, Any] = {"proxy_vs_confirmation": kendall_tau(proxy, conf),
                           "confirmation_vs_test": kendall_tau(conf, tests),
                           "proxy_vs_test": kendall_tau(proxy, tests), "sets": names,
                           "proxy": proxy, "confirmation": conf, "test": tests}
    known = {n: t for n, t in zip(names, tests) if t is not None and math.isfinite(t)}
    scored = [r for r in rows if r["proxy"] is not None]
    by_proxy = max(scored, key=lambda r: r["proxy"])["name"] if scored else None
    chosen = next((r["name"] for r in rows if r.get("chosen")), None)
    if known:
        best = max(known.values())
        out["best_test"] = best
        out["regret_proxy"] = best - known[by_proxy] if by_proxy in known else None
        out["regret_confirmation"] = best - known[chosen] if chosen in known else None
    out["proxy_pick"], out["confirmation_pick"] = by_proxy, chosen
    return out
