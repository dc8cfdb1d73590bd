"""The report's sections on how the tuned set was chosen: the confirmation of the finalists on the
validation split, the proxy's fidelity, and the rows with the evaluation lr chosen on validation."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from dd_tune.base.keys import DEFAULT
from dd_tune.records import Confirmation, Fidelity, Finalist, IpcResult, LrRows, Tau
from dd_tune.records.stats import format_difference, format_interval, summary


def _tau(entry: Tau) -> str:
    if entry.tau is None:
        return f"n/a (n = {entry.n})"
    return f"{entry.tau:+.2f} (n = {entry.n})"


def _val(row: Finalist) -> str:
    if not row.accuracy.runs:
        return "not confirmed"
    stats = summary(row.accuracy.runs)
    return f"{stats['mean']:.2f} ± {stats['std']:.2f} {format_interval(stats['ci95'])}"


def confirmation_lines(row: IpcResult, titles: Mapping[str, str] | None = None) -> list[str]:
    """The finalists table (proxy score, confirmation, paired difference to the defaults, test accuracy
    once the test pass is done) and its verdict in words."""
    conf, fid = row.confirmation, row.fidelity
    if conf is None or not conf.rows:
        return []
    trials = sum(1 for r in conf.rows if r.name != DEFAULT)
    lines = [f"**How the tuned set was chosen.** {conf.verdict} The {len(conf.rows)} finalists (the "
             f"top {trials} trials by the search's proxy score, at most {conf.top_k}, and the reference "
             f"defaults) were each "
             f"trained {conf.models} times with the final protocol ({conf.epochs} epochs) on the "
             f"**validation** split and the best confirmation mean was chosen; the test column was measured "
             f"afterwards, for the proxy's fidelity only{_test_models(conf)}. The fresh models remove the "
             f"luck of the proxy's model seeds, not of its images: the confirmation's validation images include "
             f"the proxy's.", "",
             "| finalist | iterations | proxy val acc (%) | confirmation val acc (%) | − defaults (paired) | "
             f"test acc, {conf.arch} (%) |", "|---|---:|---:|---|---|---:|"]
    for r in conf.rows:
        name = f"**{r.name}** (chosen)" if r.chosen else r.name
        name += " = reference defaults" if r.is_default else ""
        it = "full budget" if r.iterations < 0 else str(r.iterations)
        proxy = "—" if r.proxy is None else f"{r.proxy:.2f}"
        diff = "—" if r.vs_default is None else format_difference(r.vs_default)
        test = fid.test_of(r.name) if fid else None
        lines.append(f"| {name} | {it} | {proxy} | {_val(r)} | {diff} | "
                     f"{'n/a' if test is None else f'{test:.2f}'} |")
    return lines + [""] + fidelity_lines(fid)


def fidelity_lines(fid: Fidelity | None) -> list[str]:
    """Kendall's tau between the proxy, the confirmation and the test accuracy, and the regrets."""
    if fid is None:
        return []
    line = (f"Proxy fidelity: Kendall's tau proxy vs confirmation {_tau(fid.proxy_vs_confirmation)}, "
            f"confirmation vs test {_tau(fid.confirmation_vs_test)}, proxy vs test {_tau(fid.proxy_vs_test)}")
    if fid.regret_proxy is not None:
        line += (f"; test-accuracy regret (best finalist on test − the pick) of picking by the proxy alone "
                 f"{fid.regret_proxy:.2f} points ({fid.proxy_pick}), by the confirmation "
                 f"{fid.regret_confirmation:.2f} ({fid.confirmation_pick})")
    return [line + ". A tau near 1 says the cheap proxy ranks configurations as the full protocol does; "
            "near 0 or below, its best trial is mostly luck and the confirmation is what chose.", ""]


def lr_protocol_lines(row: IpcResult, title: Callable[[str], str]) -> list[str]:
    """Rows trained with the evaluation lr chosen on validation, beside the fixed-lr rows, then the grid
    the choice was made on (each lr's mean validation accuracy)."""
    rows = row.lr_protocol or {}
    if not rows:
        return []
    archs = list(next(iter(rows.values())).keys())
    lines = ["**With the evaluation learning rate chosen on validation** (per row and architecture, the lr of "
             "the grid below with the best mean validation accuracy, the same procedure for every row; tested "
             "with the fixed rows' model seeds):", "",
             "| synthetic set | " + " | ".join(f"{a} test acc (%) | {a} lr" for a in archs) + " |",
             "|---|" + "---|---|" * len(archs)]
    for name, by_arch in rows.items():
        cells = []
        for a in archs:
            e = by_arch[a]
            lr = ", ".join(f"{c.lr:g}" for c in e.picks)
            acc = e.accuracy
            cells.append(f"{acc.mean:.2f} ± {acc.std:.2f} {format_interval(clip_accuracy(acc.ci95))} | {lr}")
        lines.append(f"| {title(name)} | " + " | ".join(cells) + " |")
    return lines + [""] + _lr_grid_lines(rows, archs, title)


def clip_accuracy(ci: Sequence[float] | None) -> list[float] | None:
    """An accuracy's interval within [0, 100]: the t interval of a few runs can leave it, an accuracy cannot."""
    return None if ci is None else [max(0.0, float(ci[0])), min(100.0, float(ci[1]))]


def _lr_grid_lines(rows: LrRows, archs: list[str], title: Callable[[str], str]) -> list[str]:
    """The grid: each row's mean validation accuracy (%) per evaluation lr (random real: over its draws);
    the chosen lr in bold."""
    grid: dict[float, None] = {}
    table: list[tuple[str, str, dict[float, float], set[float]]] = []
    for name, by_arch in rows.items():
        for a in archs:
            picks = by_arch[a].picks
            means: dict[float, list[float]] = {}
            for pick in picks:
                for lr, v in pick.val.items():
                    means.setdefault(lr, []).append(v)
                    grid[lr] = None
            chosen = {p.lr for p in picks}
            table.append((title(name), a, {lr: sum(v) / len(v) for lr, v in means.items()}, chosen))
    if not grid:
        return []
    lrs = sorted(grid)
    out = ["The evaluation-lr grid on validation (mean accuracy %, the chosen lr in bold):", "",
           "| synthetic set | arch | " + " | ".join(f"lr {lr:g}" for lr in lrs) + " |",
           "|---|---|" + "---|" * len(lrs)]
    for name, a, mean_at, chosen in table:
        cells = [("n/a" if lr not in mean_at else f"**{mean_at[lr]:.2f}**" if lr in chosen else f"{mean_at[lr]:.2f}")
                 for lr in lrs]
        out.append(f"| {name} | {a} | " + " | ".join(cells) + " |")
    return out + [""]


def _test_models(conf: Confirmation) -> str:
    """How many models measured the other finalists' test column, when fewer than the chosen row's."""
    n = conf.test_models
    return f" (the chosen set and the defaults: the rows' models; the other finalists: {n} model" \
           f"{'' if n == 1 else 's'} each)" if n else ""
