"""The rows of a report: their names and titles, random real pooled over its draws, the differences
between rows with their intervals, and how one accuracy cell is written."""

from __future__ import annotations

import statistics
from typing import Any, Callable, Iterable, Mapping, Sequence

from dd_tune.base.keys import BEST, DEFAULT, ITERATIONS_RUN, RANDOM_REAL, START
from dd_tune.records import Difference, Reeval, RowDifference, SetAccuracy, SetId
from dd_tune.records.set_id import is_random_real
from dd_tune.records.stats import format_interval, paired_difference, summary, welch_difference

SET_TITLES = {BEST: "tuned", DEFAULT: "reference defaults", RANDOM_REAL: "random real",
              "best_hard_lr0.01": "tuned, hard labels, lr 0.01",
              START: "tuned, before distillation (its initial images)"}


def set_title(name: str) -> str:
    if name.startswith("best_init_"):
        return f"tuned, init {name[len('best_init_'):]}"
    if name.startswith("random_real_x"):
        return f"random real, multi-formation ×{name[len('random_real_x'):]}"
    return SET_TITLES.get(name, f"named point `{name}`")


def budget_note(config: Mapping[str, Any]) -> str:
    """What a chosen configuration ran when ASHA stopped its trial before the sampled budget ("" when it ran
    it all): "ran 2 of 6 iterations (stopped early by ASHA; its set is that of iteration 2)"."""
    if ITERATIONS_RUN not in config:
        return ""
    ran = config[ITERATIONS_RUN]
    return (f"ran {ran} of {config.get('iterations', '?')} iterations (stopped early by ASHA; its set is that of "
            f"iteration {ran})")


def ran_text(config: Mapping[str, Any]) -> str:
    """The iterations a chosen configuration ran, short: "100", "2 of 6, stopped early by ASHA", or ""
    for a method without iterations (random real)."""
    if ITERATIONS_RUN in config:
        return f"{config[ITERATIONS_RUN]} of {config.get('iterations', '?')}, stopped early by ASHA"
    return str(config.get("iterations", ""))


def configuration_text(config: Mapping[str, Any]) -> str:
    """A configuration on one line (4 significant digits; nested blocks left out), with what it ran."""
    shown = {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in config.items()
             if not isinstance(v, dict) and k != ITERATIONS_RUN}  # 4 digits: lr_lr 1e-05 must not print as 0.0
    note = budget_note(config)
    text = {k: ('"" (the dataset\'s DSA strategy)' if k == "dsa_strategy" and v == "" else v) for k, v in shown.items()}
    return ", ".join(f"{k} {v}" for k, v in text.items()) + (f" ({note})" if note else "")


def matched_random_real(best_config: Mapping[str, Any], rows: Iterable[str]) -> str:
    """The random-real row a tuned set is compared with: decoded as the tuned set is (a multi-formation
    set with factor f trains on f² real images per stored image: ``random_real_xf``, where that row exists)."""
    factor = int(best_config.get("factor", 1) or 1)
    name = str(SetId.random_real(factor))
    return name if factor > 1 and name in rows else RANDOM_REAL


def pool_random_real(reeval: Reeval) -> Reeval:
    """Replace each group of ``random_real*_draw<d>`` rows by one row (``random_real``, ``random_real_x2``)
    whose statistical unit is the **draw**: ``runs`` holds the draw means (so its interval and every
    difference against it count draws, not models: which real images are drawn varies more than a new
    model's seed does, and pooling draws x models as independent values made intervals too narrow);
    ``models`` keeps every model's accuracy, ``draws`` each draw's."""
    groups: dict[str, list[str]] = {}
    for name in reeval:
        set_id = SetId.parse(name)
        if set_id.is_draw:
            groups.setdefault(str(set_id.pooled), []).append(name)
    out: Reeval = {n: v for n, v in reeval.items() if not SetId.parse(n).is_draw}
    for group, draws in groups.items():
        pooled: dict[str, SetAccuracy] = {}
        for arch in reeval[draws[0]]:
            balanced = [list(reeval[d][arch].balanced) for d in draws]
            pooled[arch] = SetAccuracy.of_draws(
                [reeval[d][arch].runs for d in draws], lr=reeval[draws[0]][arch].lr, lr_learned=False,
                balanced=[statistics.fmean(b) for b in balanced] if all(balanced) else [])
        out[group] = pooled
    return out


def differences(reeval: Reeval) -> list[RowDifference]:
    """Tuned - default and tuned - its own initial images (paired: the same model seeds train both) and
    every set - random real (Welch: random real pools several draws), per architecture."""
    out = []
    pairs: list[tuple[str, str, Callable[[Sequence[float], Sequence[float]], Difference]]] = [
        (str(BEST), str(DEFAULT), paired_difference), (str(BEST), str(START), paired_difference)]
    pairs += [(name, str(RANDOM_REAL), welch_difference) for name in reeval if not is_random_real(name)]
    # the multi-formation baseline (random real decoded like the tuned set) against the tuned and default rows
    pairs += [(str(name), mf, welch_difference) for mf in reeval if SetId.parse(mf).factor > 1
              for name in (BEST, DEFAULT)]
    for a, b, fn in pairs:
        if a not in reeval or b not in reeval:
            continue
        for arch in reeval[a]:
            if arch in reeval[b] and reeval[a][arch].runs and reeval[b][arch].runs:
                out.append(RowDifference(a, b, arch, fn(reeval[a][arch].runs, reeval[b][arch].runs)))
    return out


def fmt_acc(entry: SetAccuracy | None, with_n: bool = True) -> str:
    """``89.44 ± 0.23 [88.87, 90.01] (n=3)``: mean ± sample std, 95 % interval; one value is printed alone
    (no spread to show). Random real counts draws: ``(n=3 draws of 3 models)``."""
    if not entry or not entry.runs:
        return "n/a"
    stats = summary(entry.runs)
    text = f"{stats['mean']:.2f}"
    if stats["n"] > 1:
        text += f" ± {stats['std']:.2f}"
    if stats["ci95"] is not None:
        lo, hi = stats["ci95"]
        # an accuracy lies in [0, 100]: a t-interval of 2-3 spread-out models can reach past it
        text += f" {format_interval([max(lo, 0.0), min(hi, 100.0)])}" + (" (clipped)" if lo < 0 or hi > 100 else "")
    if not with_n:
        return text
    draws = entry.draws
    if draws:
        return text + f" (n={len(draws)} draws of {len(draws[0])} model{'s' if len(draws[0]) != 1 else ''})"
    return text + f" (n={stats['n']})"
