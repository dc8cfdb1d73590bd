"""The tables of a study report's IPC section, one function each (typed result in, markdown lines out):
accuracy per set and architecture, the differences between rows, the configurations, the trials, the
search space, the FLOPs; and how a value, a FLOP count or a row's title is written.

A new report table goes here as such a function; ``dd_tune.report.study_report`` places it in the section.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable, Mapping, Sequence

from dd_tune.base.keys import (
    ITERATIONS_RUN,
    MAIN_ROWS,
    RANDOM_REAL,
)
from dd_tune.base.printable import printable, table_cell
from dd_tune.config import dotted_value
from dd_tune.records import FlopCount, IpcResult, RowDifference, SearchedParam, SetAccuracy, StudyResult, TrialRecord
from dd_tune.records.set_id import is_random_real
from dd_tune.records.stats import format_difference
from dd_tune.report.rows import budget_note, fmt_acc, set_title


def fmt_value(v: Any, digits: int = 4) -> str:
    """``digits`` significant digits for floats, ``""`` shown as such (an empty string is a value: "the
    default"); the report's tables and the console's trial lines write values alike."""
    if isinstance(v, str) and v == "":
        return '""'
    if isinstance(v, Mapping):  # a nested block (PAD's experts): one line of key=value, not a dict's repr
        return "(" + ", ".join(f"{k}={fmt_value(x, digits)}" for k, x in v.items()) + ")"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x, digits) for x in v) + "]"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def fmt_flops(n: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}FLOP"
    return f"{n:.0f} FLOP"


def imbalanced(row: IpcResult) -> bool:
    """A test split whose classes differ in share by more than 10 points (MHIST: 63 / 37)."""
    shares = row.test_class_shares or []
    return bool(shares) and max(shares) - min(shares) > 0.1


def _balanced_cell(entry: SetAccuracy | None) -> str:
    runs = entry.balanced if entry else []
    return fmt_acc(SetAccuracy.of_runs(runs)) if runs and all(v == v for v in runs) else "n/a"


def accuracy_lines(row: IpcResult) -> list[str]:
    """The per-set table (mean ± std [95 % interval] (n)); a step-size column when a set learned one, a
    balanced-accuracy column per architecture when the test split is imbalanced."""
    reeval = row.reeval
    archs = list(next(iter(reeval.values())).keys())
    # a set's step size is the same on every architecture: its first entry's
    lrs = {name: next(iter(accs.values()), None) for name, accs in reeval.items()}
    show_lr = any(e is not None and e.lr_learned for e in lrs.values())
    bal = imbalanced(row)
    head = "| synthetic set | " + " | ".join(f"{a} test acc (%)" + (f" | {a} balanced acc (%)" if bal else "")
                                             for a in archs) + (" | step size |" if show_lr else " |")
    lines = [head, "|---|" + "---|" * (len(archs) * (1 + int(bal)) + int(show_lr))]
    for name in [*[n for n in MAIN_ROWS if n in reeval], *[n for n in reeval if n not in MAIN_ROWS]]:
        accs = reeval[name]
        title = row_title(name, row)
        first = next(iter(accs.values()))
        if is_random_real(name) and first.draws:
            title += f" ({len(first.draws)} draws)"
        cells = " | ".join(fmt_acc(accs.get(a)) + (f" | {_balanced_cell(accs.get(a))}" if bal else "")
                           for a in archs)
        lr, learned = first.lr, first.lr_learned
        step = "n/a" if lr is None else f"{lr:.4g}{' (learned α)' if learned else ''}"
        lines.append(f"| {title} | {cells} |" + (f" {step} |" if show_lr else ""))
    lines += _random_real_spread(reeval.get(RANDOM_REAL, {}))
    if bal:
        shares = row.test_class_shares
        lines += ["", f"The test split is imbalanced (class shares {', '.join(f'{s:.1%}' for s in shares)}): "
                  f"always predicting the majority class scores {max(shares):.2%} accuracy and "
                  f"{100 / len(shares):.0f} % balanced "
                  f"accuracy (the mean of the per-class recalls) — the baseline every row must beat."]
    return lines


def row_title(name: str, row: IpcResult) -> str:
    """A row's title with what it promises: the levers of its configuration and the images per class
    its evaluation trains on (``IpcResult.titles``; reports of earlier versions have none)."""
    detail = (row.titles or {}).get(name)
    # a name from a foreign or older report.json may hold a '|' or control characters: one cell, one line
    return table_cell(f"{set_title(name)}: {detail}" if detail else set_title(name))


def _random_real_spread(rr: Mapping[str, SetAccuracy]) -> list[str]:
    if not rr or not next(iter(rr.values())).draws:
        return []
    parts = []
    for arch, e in rr.items():
        within = statistics.fmean(statistics.stdev(d) if len(d) > 1 else 0.0 for d in e.draws)
        parts.append(f"{arch}: draw means " + ", ".join(f"{m:.2f}" for m in e.draw_means)
                     + f" (std across draws {e.draw_std:.2f}, mean std across models within a draw {within:.2f})")
    return ["", "Random real, spread across draws — " + "; ".join(parts) + "."]


def difference_lines(diffs: Sequence[RowDifference]) -> list[str]:
    if not diffs:
        return []
    archs = list(dict.fromkeys(d.arch for d in diffs))
    lines = ["", "Differences in test accuracy (points) with 95 % intervals — paired by model seed where the "
             "same seeds trained both sets, Welch otherwise (random real pools its draws):", "",
             "| difference | " + " | ".join(archs) + " |", "|---|" + "---|" * len(archs)]
    for a, b in dict.fromkeys((d.a, d.b) for d in diffs):
        cells = {d.arch: d.difference for d in diffs if (d.a, d.b) == (a, b)}
        kind = next(iter(cells.values())).kind
        lines.append(f"| {set_title(a)} − {set_title(b)} ({kind}) | "
                     + " | ".join(format_difference(cells[x]) if x in cells else "n/a" for x in archs) + " |")
    return lines


def search_space_lines(space: Mapping[str, SearchedParam]) -> list[str]:
    """The searched hyperparameters as a table: an int range in whole numbers, floats to 4 digits."""
    lines = ["| hyperparameter | type | values |", "|---|---|---|"]
    for key, spec in space.items():
        kind = spec.type
        if kind == "categorical":
            values = ", ".join(fmt_value(c) if c is not None else "off" for c in spec.choices)
        else:
            num: Callable[[Any], str] = (lambda v: str(int(v))) if kind == "int" else fmt_value
            values = f"{num(spec.low)} to {num(spec.high)}"
            values += " (log scale)" if spec.log else ""
            values += f", step {num(spec.step)}" if spec.step else ""
        lines.append(f"| {key} | {kind} | {values} |")
    return lines


def config_lines(row: IpcResult, report: StudyResult) -> list[str]:
    lines = []
    for name, cfg in row.named_configs.items():
        changed = {k: v for k, v in cfg.items() if row.default_config.get(k) != v}
        lines.append(f"\nNamed point `{name}`: the default configuration with {changed}.")
    reference = report.reference_defaults
    lines += ["", "| hyperparameter | tuned | reference defaults (this profile) | the method's published value |",
              "|---|---|---|---|"]
    for key in sorted((set(row.best_config) | set(row.default_config)) - {ITERATIONS_RUN}):
        tuned = shown_value(key, row.best_config.get(key))
        if key == "iterations" and budget_note(row.best_config):  # ASHA stopped the chosen trial early
            tuned = f"{tuned}: {budget_note(row.best_config)}"
        lines.append(f"| {key} | {tuned} | "
                     f"{shown_value(key, row.default_config.get(key))} | {published_value(key, reference)} |")
    edited = [k for k, v in reference.items() if row.default_config.get(k, v) != v and not _study_network(k, v)]
    if edited:
        lines += ["", "The reference-defaults row is the method's published configuration with the study's changes to "
                  + ", ".join(f"`{k}`" for k in edited) + " (budget of this profile)."]
    return lines


def _study_network(key: str, value: Any) -> bool:
    """``net_*`` keys are 0 / "" in a method's reference: "the study's network", filled in when the study
    is loaded; the method publishes no value of its own for them."""
    return key.startswith("net_") and value in (0, "")


def published_value(key: str, reference: Mapping[str, Any]) -> str:
    """The method's published value of ``key``, or what stands in its place."""
    if key not in reference:
        return "—"
    if _study_network(key, reference[key]):
        return "— (the study's network)"
    return shown_value(key, reference[key])


def shown_value(key: str, value: Any) -> str:
    """A configuration value as a reader understands it: ``dsa_strategy ""`` is the dataset's own DSA
    strategy (MNIST's has no flip), not "no augmentation"."""
    if key == "dsa_strategy" and value == "":
        return '"" (the dataset\'s DSA strategy)'
    return fmt_value(value)


def ran_on(trial: TrialRecord) -> str:
    """``cpu (simulated GPU), 0.5 GPU on 10.0.0.7`` (the node's address only); "" for trials of reports
    written before dd_tune recorded it."""
    if not trial.device:
        return ""
    share = trial.gpu_share or 0.0
    node = (trial.node_address or "").split(" ")[0]
    return f"{trial.device}{f', {share:g} GPU' if share else ''}" + (f" on {node}" if node else "")


def trial_lines(row: IpcResult, space: Mapping[str, Any]) -> list[str]:
    """The trial table, best first: each trial's configuration as the values in which it differs from the
    reference defaults (one cell that wraps, so the table fits a screen whatever the space's size); the
    values every trial shares are said once below it."""
    keys = sorted(space)
    placed = any(t.device for t in row.trials)
    restarted = any(t.failures for t in row.trials)
    extra = (["ran on"] if placed else []) + (["restarts"] if restarted else [])
    configs = [t.config for t in row.trials if t.config]
    shared = [k for k in keys if configs and len({repr(c.get(k)) for c in configs}) == 1]
    header = ["trial", "val acc (%)", "iterations run", "configuration (how it differs from the reference defaults)",
              *extra]
    lines = ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for t in sorted(row.trials, key=lambda t: -(t.val_acc or -1)):
        cells = ([ran_on(t)] if placed else []) + ([str(t.failures)] if restarted else [])
        acc = ("diverged" if t.diverged else "failed") if t.error else f"{t.val_acc:.2f}"
        changed = " ".join(f"{k}={shown_value(k, t.config.get(k))}" for k in keys if k not in shared
                           and dotted_value(row.default_config, k) != t.config.get(k))
        changed = changed or ("the reference defaults" if t.is_defaults_of(row.default_config) else "—")
        lines.append(f"| {t.label} | {acc} | {t.iteration} | {table_cell(changed)} |"
                     + "".join(f" {c} |" for c in cells))
    if shared:
        lines += ["", "The same in every trial: " + printable(", ".join(
            f"{k}={shown_value(k, configs[0].get(k))}" for k in shared)) + "."]
    if "dsa_strategy" in keys:
        lines += ["", '`dsa_strategy` `""` is the dataset\'s own DSA strategy (on MNIST: colour, crop, cutout, scale, '
                  "rotate; no flip); other values name the operations used."]
    return lines


def flops_lines(flops: FlopCount) -> list[str]:
    return ["", "FLOPs (fvcore; one multiply-add = one FLOP; each method counts its own passes): "
            + "; ".join(f"{a} forward {fmt_flops(v)}/image" for a, v in flops.forward_per_image.items())
            + f"; distillation (tuned) {fmt_flops(flops.distillation_best)}, "
            f"(default) {fmt_flops(flops.distillation_default)}; one evaluation "
            + ", ".join(f"{a} {fmt_flops(v)}" for a, v in flops.evaluation_one_run.items()) + ".", ""]
