"""Study report: plain data first (``report.json``), then a thin markdown rendering (``report.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

SETS = ("best", "default", "random_real")
SET_TITLES = {"best": "tuned (best trial)", "default": "reference defaults", "random_real": "random real",
              "best_hard_lr0.01": "tuned, hard labels, lr 0.01"}


def set_title(name: str) -> str:
    if name.startswith("best_init_"):
        return f"tuned, init {name[len('best_init_'):]}"
    return SET_TITLES.get(name, f"named point `{name}`")


def _fmt_acc(entry: Mapping[str, Any] | None) -> str:
    if not entry or not entry.get("runs"):
        return "n/a"
    return f"{entry['mean']:.2f} ± {entry['std']:.2f} (n={len(entry['runs'])})"


def _fmt_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt_flops(n: float) -> str:
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
    if plots.get("history"):
        lines += [f"![optimisation history, IPC {ipc}]({_rel(plots['history'], report)})", ""]
    if plots.get("importance"):
        ranked = sorted(plots["importances"].items(), key=lambda kv: -kv[1])
        lines += [f"Hyperparameter importance ({plots.get('importance_evaluator')}): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ranked) + ".", "",
                  f"![hyperparameter importance, IPC {ipc}]({_rel(plots['importance'], report)})", ""]
    if plots.get("pareto"):
        lines += [f"Pareto front (IPC searched; validation accuracy up, synthetic images down), IPC {ipc} study:",
                  "", "| trial (Optuna) | IPC | images | val acc (%) |", "|---|---|---|---|"]
        lines += [f"| {p['number']} | {p['params'].get('ipc')} | {p['images']} | {p['val_acc']:.2f} |"
                  for p in plots["pareto"]] + [""]
        if plots.get("pareto_plot"):
            lines += [f"![Pareto front]({_rel(plots['pareto_plot'], report)})", ""]
    lines += [f"_{note}_" for note in plots.get("notes", [])]
    return lines + ([""] if plots.get("notes") else [])


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.json -> report.md (one section per IPC)."""
    lines = [
        f"# Study `{report['study']}` ({report['method']} on {report['dataset']}, profile `{report['profile']}`)",
        "",
        f"Seed {report['seed']}; wall time {report['wall_time_s']:.0f} s. Trials were tuned on a validation "
        f"split carved from the training set; every accuracy below was measured once, at the end, on the "
        f"**test** set with the same protocol for all rows ({report['protocol']}).",
        "",
    ]
    for ipc, row in report["by_ipc"].items():
        archs = list(next(iter(row["reeval"].values())).keys())
        lines += [f"## IPC {ipc}", "",
                  f"{row['n_trials']} trials ({row['n_errors'] + row['n_diverged']} failed: {row['n_errors']} raised, "
                  f"{row['n_diverged']} diverged); "
                  f"best validation accuracy {row['best_val_acc']:.2f} %.", "",
                  "| synthetic set | " + " | ".join(f"{a} test acc (%)" for a in archs) + " |",
                  "|---|" + "---|" * len(archs)]
        for name in [*SETS, *[n for n in row["reeval"] if n not in SETS]]:
            accs = row["reeval"].get(name, {})
            title = set_title(name)
            lines.append(f"| {title} | " + " | ".join(_fmt_acc(accs.get(a)) for a in archs) + " |")
        for name, cfg in row.get("named_configs", {}).items():
            changed = {k: v for k, v in cfg.items() if row["default_config"].get(k) != v}
            lines.append(f"\nNamed point `{name}`: the default configuration with {changed}.")
        reference = report.get("reference_defaults", {})
        lines += ["", "| hyperparameter | tuned | default | method reference |", "|---|---|---|---|"]
        for key in sorted(set(row["best_config"]) | set(row["default_config"])):
            lines.append(f"| {key} | {row['best_config'].get(key)} | {row['default_config'].get(key)} "
                         f"| {reference.get(key, '')} |")
        changed = [k for k, v in reference.items() if row["default_config"].get(k, v) != v]
        if changed:
            lines += ["", "The default row is the method's reference configuration with the study's changes to "
                      + ", ".join(f"`{k}`" for k in changed) + " (budget of this profile)."]
        lines += ["", "| trial | " + " | ".join(sorted(report["search_space"])) + " | iterations run | val acc (%) |",
                  "|---|" + "---|" * (len(report["search_space"]) + 2)]
        for t in sorted(row["trials"], key=lambda t: -(t.get("val_acc") or -1)):
            values = " | ".join(_fmt_value(t["config"].get(k)) for k in sorted(report["search_space"]))
            acc = ("diverged" if t.get("diverged") else "failed") if t.get("error") else f"{t['val_acc']:.2f}"
            lines.append(f"| {t['trial']} | {values} | {t.get('it')} | {acc} |")
        flops = row["flops"]
        lines += ["", "FLOPs (fvcore; one multiply-add = one FLOP): "
                  + "; ".join(f"{a} forward {_fmt_flops(v)}/image" for a, v in flops["forward_per_image"].items())
                  + f"; distillation (tuned) {_fmt_flops(flops['distillation_best'])}, "
                  f"(default) {_fmt_flops(flops['distillation_default'])}; one evaluation "
                  + ", ".join(f"{a} {_fmt_flops(v)}" for a, v in flops["evaluation_one_run"].items()) + ".",
                  ""]
        if row.get("errors"):
            lines += ["Failed trials (the study went on without them):", ""] \
                + [f"- `{k}`: {v}" for k, v in row["errors"].items()] + [""]
        lines += [f"Best synthetic set: `{row['best_synset']}`.", "",
                  f"![best synthetic images, IPC {ipc}]({_rel(row['best_png'], report)})", ""]
        lines += _plot_lines(row.get("plots") or {}, report, ipc)
    lines += ["## Search space", "", "```", json.dumps(report["search_space"], indent=2), "```", "",
              "## Where to look", "",
              f"- TensorBoard (one run per trial: scalars, image grids, HParams): "
              f"`tensorboard --logdir {report['study_dir']}`",
              f"- Optuna study: `optuna trials --storage sqlite:///{report['optuna_db']} "
              f"--study-name {report['study']}-ipc<IPC>` (or `optuna-dashboard sqlite:///{report['optuna_db']}`)",
              ""]
    return "\n".join(lines)


def write_report(report: Mapping[str, Any], study_dir: Path) -> None:
    (study_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    (study_dir / "report.md").write_text(render_markdown(report))
