"""Study report: plain data first (``report.json``), then a thin markdown rendering (``report.md``).

Every accuracy row carries mean, sample std, n and a 95 % interval; every "tuned vs default" and
"set vs random real" comparison carries the difference with its interval (:mod:`dd_tune.stats`).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.base.keys import BEST, DIVERGED, ITERATION, MAIN_ROWS, METRIC, RANDOM_REAL, trial_label
from dd_tune.methods.levers import NAMES as METHOD_NAMES
from dd_tune.report.confirmation import confirmation_lines, lr_protocol_lines
from dd_tune.report.html import markdown_to_html
from dd_tune.report.results import StudyResult
from dd_tune.report.rows import differences, fmt_acc, set_title
from dd_tune.report.stats import format_difference
from dd_tune.report.timing import study_time_line, time_lines
from dd_tune.report.verdict import banner, verdict


def fmt_value(v: Any, digits: int = 4) -> str:
    """``digits`` significant digits for floats, ``""`` shown as such (an empty string is a value: "the
    default"); the report's tables and the console's trial lines write values alike."""
    if v == "":
        return '""'
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def fmt_flops(n: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}FLOP"
    return f"{n:.0f} FLOP"


def _rel(path: str, report: Mapping[str, Any]) -> str:
    """A path relative to the study directory (report.md links work after copying the directory)."""
    base = str(report.get("study_dir", ""))
    return path[len(base) + 1:] if base and path.startswith(base + "/") else path


def _plot_lines(plots: Mapping[str, Any], report: Mapping[str, Any], ipc: str) -> list[str]:
    lines = []
    if plots.get("curves"):
        lines += ["Proxy validation accuracy of every trial against the distillation iteration (bold: the chosen "
                  "trial and the reference defaults; a line that stops early is a trial ASHA stopped):", "",
                  f"![accuracy vs iteration, IPC {ipc}]({_rel(plots['curves'], report)})", ""]
    if plots.get("history"):
        lines += [f"![optimisation history, IPC {ipc}]({_rel(plots['history'], report)})", ""]
    if plots.get("importance"):
        ranked = sorted(plots["importances"].items(), key=lambda kv: -kv[1])
        lines += [f"Hyperparameter importance ({plots.get('importance_evaluator')}): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ranked) + ".", "",
                  f"![hyperparameter importance, IPC {ipc}]({_rel(plots['importance'], report)})", ""]
    if plots.get("slice"):
        lines += [f"![accuracy against the most important parameters, IPC {ipc}]({_rel(plots['slice'], report)})", ""]
    if plots.get("contour"):
        lines += [f"![accuracy over the two most important parameters, IPC {ipc}]({_rel(plots['contour'], report)})",
                  ""]
    if plots.get("pareto"):
        lines += [f"Pareto front (IPC searched; validation accuracy up, synthetic images down), IPC {ipc} study:",
                  "", "| trial (Optuna) | IPC | images | val acc (%) |", "|---|---|---|---|"]
        lines += [f"| {p['number']} | {p['params'].get('ipc')} | {p['images']} | {p[METRIC]:.2f} |"
                  for p in plots["pareto"]] + [""]
        if plots.get("pareto_plot"):
            lines += [f"![Pareto front]({_rel(plots['pareto_plot'], report)})", ""]
    lines += [f"_{note}_" for note in plots.get("notes", [])]
    return lines + ([""] if plots.get("notes") else [])


def imbalanced(row: Mapping[str, Any]) -> bool:
    """A test split whose classes differ in share by more than 10 points (MHIST: 63 / 37)."""
    shares = row.get("test_class_shares") or []
    return bool(shares) and max(shares) - min(shares) > 0.1


def _balanced_cell(entry: Mapping[str, Any] | None) -> str:
    runs = (entry or {}).get("balanced") or []
    return fmt_acc({"runs": runs}) if runs and all(v == v for v in runs) else "n/a"


def _accuracy_lines(row: Mapping[str, Any]) -> list[str]:
    """The per-set table (mean ± std [95 % interval] (n)); a step-size column when a set learned one, a
    balanced-accuracy column per architecture when the test split is imbalanced."""
    reeval = row["reeval"]
    archs = list(next(iter(reeval.values())).keys())
    lrs: dict[str, Mapping[str, Any]] = {name: next(iter(accs.values()), {}) for name, accs in reeval.items()}
    show_lr = any(e.get("lr_learned") for e in lrs.values())
    bal = imbalanced(row)
    head = "| synthetic set | " + " | ".join(f"{a} test acc (%)" + (f" | {a} balanced acc (%)" if bal else "")
                                             for a in archs) + (" | step size |" if show_lr else " |")
    lines = [head, "|---|" + "---|" * (len(archs) * (1 + int(bal)) + int(show_lr))]
    for name in [*[n for n in MAIN_ROWS if n in reeval], *[n for n in reeval if n not in MAIN_ROWS]]:
        accs = reeval[name]
        title = row_title(name, row)
        if name.startswith(RANDOM_REAL) and "draws" in next(iter(accs.values())):
            title += f" ({len(next(iter(accs.values()))['draws'])} draws)"
        cells = " | ".join(fmt_acc(accs.get(a)) + (f" | {_balanced_cell(accs.get(a))}" if bal else "")
                           for a in archs)
        lr, learned = lrs[name].get("lr"), lrs[name].get("lr_learned")
        step = "n/a" if lr is None else f"{lr:.4g}{' (learned α)' if learned else ''}"
        lines.append(f"| {title} | {cells} |" + (f" {step} |" if show_lr else ""))
    lines += _random_real_spread(reeval.get(RANDOM_REAL, {}))
    if bal:
        shares = row["test_class_shares"]
        lines += ["", f"The test split is imbalanced (class shares {', '.join(f'{s:.1%}' for s in shares)}): "
                  f"always predicting the majority class scores {max(shares):.2%} accuracy and "
                  f"{100 / len(shares):.0f} % balanced "
                  f"accuracy (the mean of the per-class recalls) — the baseline every row must beat."]
    return lines


def row_title(name: str, row: Mapping[str, Any]) -> str:
    """A row's title with what it promises: the levers of its configuration and the images per class
    its evaluation trains on (``IpcResult.titles``; reports of earlier versions have none)."""
    detail = (row.get("titles") or {}).get(name)
    return f"{set_title(name)}: {detail}" if detail else set_title(name)


def _random_real_spread(rr: Mapping[str, Any]) -> list[str]:
    if not rr or "draws" not in next(iter(rr.values())):
        return []
    parts = []
    for arch, e in rr.items():
        within = statistics.fmean(statistics.stdev(d) if len(d) > 1 else 0.0 for d in e["draws"])
        parts.append(f"{arch}: draw means " + ", ".join(f"{m:.2f}" for m in e["draw_means"])
                     + f" (std across draws {e['draw_std']:.2f}, mean std across models within a draw {within:.2f})")
    return ["", "Random real, spread across draws — " + "; ".join(parts) + "."]


def _difference_lines(diffs: Sequence[Mapping[str, Any]]) -> list[str]:
    if not diffs:
        return []
    archs = list(dict.fromkeys(d["arch"] for d in diffs))
    lines = ["", "Differences in test accuracy (points) with 95 % intervals — paired by model seed where the "
             "same seeds trained both sets, Welch otherwise (random real pools its draws):", "",
             "| difference | " + " | ".join(archs) + " |", "|---|" + "---|" * len(archs)]
    for a, b in dict.fromkeys((d["a"], d["b"]) for d in diffs):
        cells = {d["arch"]: d for d in diffs if (d["a"], d["b"]) == (a, b)}
        kind = next(iter(cells.values()))["kind"]
        lines.append(f"| {set_title(a)} − {set_title(b)} ({kind}) | "
                     + " | ".join(format_difference(cells[x]) if x in cells else "n/a" for x in archs) + " |")
    return lines


def search_space_lines(space: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The searched hyperparameters as a table: an int range in whole numbers, floats to 4 digits."""
    lines = ["| hyperparameter | type | values |", "|---|---|---|"]
    for key, spec in space.items():
        kind = spec.get("type", "")
        if kind == "categorical":
            values = ", ".join(fmt_value(c) if c is not None else "off" for c in spec.get("choices", []))
        else:
            num = (lambda v: str(int(v))) if kind == "int" else fmt_value
            values = f"{num(spec['low'])} to {num(spec['high'])}"
            values += " (log scale)" if spec.get("log") else ""
            values += f", step {num(spec['step'])}" if spec.get("step") else ""
        lines.append(f"| {key} | {kind} | {values} |")
    return lines


def _config_lines(row: Mapping[str, Any], report: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, cfg in row.get("named_configs", {}).items():
        changed = {k: v for k, v in cfg.items() if row["default_config"].get(k) != v}
        lines.append(f"\nNamed point `{name}`: the default configuration with {changed}.")
    reference = report.get("reference_defaults", {})
    lines += ["", "| hyperparameter | tuned | reference defaults (this profile) | the method's published value |",
              "|---|---|---|---|"]
    for key in sorted(set(row["best_config"]) | set(row["default_config"])):
        published = fmt_value(reference[key]) if key in reference else ""
        lines.append(f"| {key} | {fmt_value(row['best_config'].get(key))} | "
                     f"{fmt_value(row['default_config'].get(key))} | {published} |")
    # net_* keys are 0 / "" in the reference: "the study's network", filled in when the study is loaded
    edited = [k for k, v in reference.items() if row["default_config"].get(k, v) != v
              and not (k.startswith("net_") and v in (0, ""))]
    if edited:
        lines += ["", "The reference-defaults row is the method's published configuration with the study's changes to "
                  + ", ".join(f"`{k}`" for k in edited) + " (budget of this profile)."]
    return lines


def _trial_lines(row: Mapping[str, Any], space: Mapping[str, Any]) -> list[str]:
    keys = sorted(space)
    lines = ["", "| trial | " + " | ".join(keys) + " | iterations run | val acc (%) |",
             "|---|" + "---|" * (len(keys) + 2)]
    for t in sorted(row["trials"], key=lambda t: -(t.get(METRIC) or -1)):
        values = " | ".join(fmt_value(t["config"].get(k)) for k in keys)
        acc = ("diverged" if t.get(DIVERGED) else "failed") if t.get("error") else f"{t[METRIC]:.2f}"
        name = trial_label(t["optuna"]) if t.get("optuna") is not None else t["trial"]  # t03 = Optuna's number 3
        lines.append(f"| {name} | {values} | {t.get(ITERATION)} | {acc} |")
    return lines


def _flops_lines(flops: Mapping[str, Any]) -> list[str]:
    return ["", "FLOPs (fvcore; one multiply-add = one FLOP; each method counts its own passes): "
            + "; ".join(f"{a} forward {fmt_flops(v)}/image" for a, v in flops["forward_per_image"].items())
            + f"; distillation (tuned) {fmt_flops(flops['distillation_best'])}, "
            f"(default) {fmt_flops(flops['distillation_default'])}; one evaluation "
            + ", ".join(f"{a} {fmt_flops(v)}" for a, v in flops["evaluation_one_run"].items()) + ".", ""]


def _proxy_line(row: Mapping[str, Any]) -> str:
    """The search's best proxy score and the chosen set's, which differ when the confirmation chose
    another finalist (``best_val_acc`` is the chosen set's proxy score, NaN for re-distilled defaults)."""
    scores = [t[METRIC] for t in row.get("trials", []) if t.get(METRIC) is not None and not t.get("error")]
    best = f"best proxy validation accuracy {max(scores):.2f} %" if scores else "no proxy score"
    chosen = row["best_val_acc"]
    if chosen != chosen or not scores or abs(chosen - max(scores)) < 1e-9:
        return best + "."
    return f"{best}; the chosen set's {chosen:.2f} % (chosen by the confirmation below)."


def _ipc_section(ipc: str, row: Mapping[str, Any], report: Mapping[str, Any]) -> list[str]:
    method = str(report.get("method", ""))
    answer = verdict(row, METHOD_NAMES.get(method, method or "the method"))
    lines = [f"## IPC {ipc}", "", *([answer, ""] if answer else []),
             f"{row['n_trials']} trials ({row['n_errors'] + row['n_diverged']} failed: {row['n_errors']} raised, "
             f"{row['n_diverged']} diverged); {_proxy_line(row)}", ""]
    for which, notes in (row.get("config_notes") or {}).items():
        lines += [f"- {'Tuned' if which == BEST else 'Default'} configuration: {n}" for n in notes]
    lines += [""] if row.get("config_notes") else []
    lines += _accuracy_lines(row)
    lines += [""] + lr_protocol_lines(row, lambda name: row_title(name, row))
    lines += confirmation_lines(row)
    lines += _difference_lines(row.get("differences") or differences(row["reeval"]))
    lines += _config_lines(row, report)
    lines += _trial_lines(row, report["search_space"])
    lines += _flops_lines(row["flops"])
    lines += time_lines(row)
    if row.get("errors"):
        lines += ["Failed trials (the study went on without them):", ""] \
            + [f"- `{k}`: {v}" for k, v in row["errors"].items()] + [""]
    lines += [f"Best synthetic set: `{row['best_synset']}`.", "",
              f"![best synthetic images, IPC {ipc}]({_rel(row['best_png'], report)})", ""]
    return lines + _progress_lines(row.get("progress") or {}, report) + _plot_lines(row.get("plots") or {}, report, ipc)


def _progress_lines(progress: Mapping[str, str], report: Mapping[str, Any]) -> list[str]:
    """The best trial's set at iteration 0, half-way and at the end (pictures it took along the way)."""
    if not progress:
        return []
    its = sorted(int(i) for i in progress)
    picks = dict.fromkeys([its[0], min(its, key=lambda i: abs(i - its[-1] / 2)), its[-1]])
    return ["The best trial's set along the way: " + ", ".join(
        f"[iteration {i}]({_rel(progress[str(i)], report)})" for i in picks) + ".", ""]


def _expert_stage_lines(stage: Mapping[str, Any] | None) -> list[str]:
    if not stage:
        return []
    flops = stage.get("flops") or {}
    cost = (f"; {fmt_flops(flops['difficulty'])} difficulty scoring + {fmt_flops(flops['training'])} "
            f"expert training" if flops else "")
    return [f"Expert stage: {stage['experts']} experts ({stage['trained']} trained, {stage['reused']} reused "
            f"from `{stage['dir']}`), {stage['seconds']:.0f} s{cost}.", ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.json -> report.md (one section per IPC)."""
    lines = [
        f"# Study `{report['study']}` ({report['method']} on {report['dataset']}, profile `{report['profile']}`)",
        "",
        f"Seed {report['seed']}; wall time {report['wall_time_s']:.0f} s. Trials were tuned on a validation "
        f"split carved from the training set; every accuracy below was measured once, at the end, on the "
        f"**test** set with the same protocol for all rows ({report['protocol']}). Cells: mean ± sample "
        f"std [95 % t-interval] (n = fresh models; random real: n = draws, each the mean of its models, "
        f"because a new draw of real images varies more than a new model).",
        "",
    ]
    lines += banner(report)
    lines += [f"_{note}_" for note in report.get("method_notes", [])] + ([""] if report.get("method_notes") else [])
    lines += _expert_stage_lines(report.get("expert_stage"))
    lines += study_time_line(report)
    for ipc, row in report["by_ipc"].items():
        lines += _ipc_section(ipc, row, report)
    lines += ["## Search space", "", *search_space_lines(report["search_space"]), "",
              "## Where to look", "",
              "Commands to run in this study's folder (the paths are relative, so they work in a copy of it too):",
              "",
              "- TensorBoard: `tensorboard --logdir .` (one run per trial, curves against the distillation "
              "iteration, image grids, HParams; the run `test` holds the test pass)",
              f"- Optuna study: `optuna trials --storage sqlite:///optuna.db --study-name {report['study']}-ipc<IPC>` "
              f"(each Optuna trial's user attribute `ray_trial_id` is the trial id used above; "
              f"`pip install 'dd_tune[dashboard]'` and `optuna-dashboard sqlite:///optuna.db` for its dashboard)",
              ""]
    return "\n".join(lines)


def write_report(result: StudyResult, study_dir: Path) -> None:
    """``report.json`` (the result's plain data) and ``report.md`` rendered from it."""
    data = result.to_dict()
    (study_dir / "report.json").write_text(json.dumps(data, indent=2, default=str))
    markdown = render_markdown(data)
    (study_dir / "report.md").write_text(markdown)
    (study_dir / "report.html").write_text(markdown_to_html(markdown, study_dir, f"dd_tune study {result.study}"))
