"""Study report: a typed :class:`StudyResult` written as plain data (``report.json``) and rendered as
``report.md`` / ``report.html``, one section per IPC (its tables: :mod:`dd_tune.report.tables`).

Every accuracy row carries mean, sample std, n and a 95 % interval; every "tuned vs default" and
"set vs random real" comparison carries the difference with its interval (:mod:`dd_tune.records.stats`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from dd_tune.base.atomic import atomic_write_text
from dd_tune.base.errors import StudyStateError
from dd_tune.base.keys import BEST
from dd_tune.core.protocols import protocol_name
from dd_tune.methods.levers import NAMES as METHOD_NAMES
from dd_tune.records import ExpertStage, IpcResult, SearchPlots, StudyResult
from dd_tune.report.confirmation import confirmation_lines, lr_protocol_lines
from dd_tune.report.html import markdown_to_html
from dd_tune.report.rows import differences
from dd_tune.report.stored import REPORT_FILE
from dd_tune.report.tables import (
    accuracy_lines,
    config_lines,
    difference_lines,
    flops_lines,
    fmt_flops,
    row_title,
    search_space_lines,
    trial_lines,
)
from dd_tune.report.timing import placement_lines, study_time_line, time_lines
from dd_tune.report.verdict import banner, verdict


def _rel(path: str, report: StudyResult) -> str:
    """A path relative to the study directory (report.md links work after copying the directory)."""
    base = str(report.study_dir)
    return path[len(base) + 1:] if base and path.startswith(base + "/") else path


def _plot_lines(plots: SearchPlots, report: StudyResult, ipc: str) -> list[str]:
    lines = []
    if plots.curves:
        lines += ["Proxy validation accuracy of every trial against the distillation iteration (bold: the chosen "
                  "trial and the reference defaults; a line that stops early is a trial ASHA stopped):", "",
                  f"![accuracy vs iteration, IPC {ipc}]({_rel(plots.curves, report)})", ""]
    if plots.history:
        lines += [f"![optimisation history, IPC {ipc}]({_rel(plots.history, report)})", ""]
    if plots.importance:
        ranked = sorted(plots.importances.items(), key=lambda kv: -kv[1])
        lines += [f"Hyperparameter importance ({plots.importance_evaluator}): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in ranked) + ".", "",
                  f"![hyperparameter importance, IPC {ipc}]({_rel(plots.importance, report)})", ""]
    if plots.slice:
        lines += [f"![accuracy against the most important parameters, IPC {ipc}]({_rel(plots.slice, report)})", ""]
    if plots.contour:
        lines += [f"![accuracy over the two most important parameters, IPC {ipc}]({_rel(plots.contour, report)})",
                  ""]
    if plots.pareto:
        lines += [f"Pareto front (IPC searched; validation accuracy up, synthetic images down), IPC {ipc} study:",
                  "", "| trial (Optuna) | IPC | images | val acc (%) |", "|---|---|---|---|"]
        lines += [f"| {p.number} | {p.params.get('ipc')} | {p.images} | {p.val_acc:.2f} |" for p in plots.pareto] + [""]
        if plots.pareto_plot:
            lines += [f"![Pareto front]({_rel(plots.pareto_plot, report)})", ""]
    lines += [f"_{note}_" for note in plots.notes]
    return lines + ([""] if plots.notes else [])


def _proxy_line(row: IpcResult) -> str:
    """The search's best proxy score and the chosen set's, which differ when the confirmation chose
    another finalist (``best_val_acc`` is the chosen set's proxy score, NaN for re-distilled defaults)."""
    scores = [t.val_acc for t in row.trials if t.val_acc is not None and not t.error]
    best = f"best proxy validation accuracy {max(scores):.2f} %" if scores else "no proxy score"
    chosen = row.best_val_acc
    if chosen != chosen or not scores or abs(chosen - max(scores)) < 1e-9:
        return best + "."
    return f"{best}; the chosen set's {chosen:.2f} % (chosen by the confirmation below)."


def _ipc_section(ipc: str, row: IpcResult, report: StudyResult) -> list[str]:
    method = str(report.method)
    answer = verdict(row, METHOD_NAMES.get(method, method or "the method"))
    # the answer first: the verdict and the test table, then how the search got there
    lines = [f"## IPC {ipc}", "", *([answer, ""] if answer else []), *accuracy_lines(row), "",
             f"{row.n_trials} trials ({row.n_errors + row.n_diverged} failed: {row.n_errors} raised, "
             f"{row.n_diverged} diverged); {_proxy_line(row)}", ""]
    for which, notes in (row.config_notes or {}).items():
        lines += [f"- {'Tuned' if which == BEST else 'Default'} configuration: {n}" for n in notes]
    lines += [""] if row.config_notes else []
    lines += [""] + lr_protocol_lines(row, lambda name: row_title(name, row))
    lines += confirmation_lines(row)
    lines += difference_lines(row.differences or differences(row.reeval))
    lines += config_lines(row, report)
    lines += trial_lines(row, report.search_space)
    lines += flops_lines(row.flops)
    lines += time_lines(row)
    lines += placement_lines(row)
    if row.errors:
        lines += ["Failed trials (the study went on without them):", ""] \
            + [f"- `{k}`: {v}" for k, v in row.errors.items()] + [""]
    lines += [f"Best synthetic set: `{row.best_synset}`.", "",
              f"![best synthetic images, IPC {ipc}]({_rel(row.best_png, report)})", ""]
    return lines + _progress_lines(row.progress or {}, report) + _plot_lines(row.plots, report, ipc)


def _progress_lines(progress: Mapping[str, str], report: StudyResult) -> list[str]:
    """The best trial's set at iteration 0, half-way and at the end (pictures it took along the way)."""
    if not progress:
        return []
    its = sorted(int(i) for i in progress)
    picks = dict.fromkeys([its[0], min(its, key=lambda i: abs(i - its[-1] / 2)), its[-1]])
    return ["The best trial's set along the way: " + ", ".join(
        f"[iteration {i}]({_rel(progress[str(i)], report)})" for i in picks) + ".", ""]


def _expert_stage_lines(stage: ExpertStage | None) -> list[str]:
    if stage is None:
        return []
    flops = stage.flops
    cost = (f"; {fmt_flops(flops.difficulty)} difficulty scoring + {fmt_flops(flops.training)} "
            f"expert training" if flops else "")
    recipe = f" ({stage.recipe})" if stage.recipe else ""  # absent in reports of earlier versions
    where = stage.places  # absent in reports of earlier versions
    placed = (" Ran on: " + ", ".join(f"{n} on {w}" for w, n in sorted(where.items())) + ".") if where else ""
    if stage.dead_nodes:
        placed += (f" {stage.dead_nodes} Ray node(s) declared dead during the stage; their tasks ran again "
                   f"elsewhere (same seeds, same experts).")
    return [f"Expert stage: {stage.experts} experts{recipe}: {stage.trained} trained, {stage.reused} reused "
            f"from `{stage.dir}`, {stage.seconds:.0f} s{cost}.{placed}", ""]


def render_markdown(report: StudyResult) -> str:
    """A study's results -> report.md (one section per IPC)."""
    lines = [
        f"# Study `{report.study}` ({report.method} on {report.dataset}, profile `{report.profile}`)",
        "",
        *banner(report),
        f"Seed {report.seed}; wall time {report.wall_time_s:.0f} s. Trials were tuned on a validation split "
        f"carved from the training set; every accuracy below was measured once, at the end, on the **test** "
        f"set with the same protocol for all rows (protocol `{protocol_name(report.protocol)}`, under \"How it "
        f"was measured\"). Cells: mean ± sample std [95 % t-interval] (n = fresh models; random real: n = "
        f"draws, each the mean of its models, because a new draw of real images varies more than a new model).",
        "",
    ]
    for ipc, row in report.by_ipc.items():
        lines += _ipc_section(ipc, row, report)
    lines += ["## How it was measured", "", f"Evaluation: {report.protocol}.", ""]
    lines += [f"_{note}_" for note in report.method_notes] + ([""] if report.method_notes else [])
    lines += _expert_stage_lines(report.expert_stage)
    lines += study_time_line(report)
    lines += ["## Search space", "", *search_space_lines(report.search_space), "",
              "## Where to look", "",
              "Commands to run in this study's folder (the paths are relative, so they work in a copy of it too):",
              "",
              "- TensorBoard: `tensorboard --logdir board` compares the trials: one run per trial named by its "
              "number, its role (defaults, chosen, finalist) and the values that vary, most important first; "
              "curves against the distillation iteration, the set's images, HParams with the confirmation and "
              "test accuracies; the run `test` holds the test pass (its Text tab: every row in one table). "
              "`tensorboard --logdir .` shows the trials as they ran (the trial folders).",
              "- Optuna study: " + ", ".join(f"`optuna trials --storage sqlite:///optuna.db --study-name "
                                             f"{report.study}-ipc{ipc}`" for ipc in report.by_ipc)
              + " (each Optuna trial's user attribute `ray_trial_id` is the trial id used above; "
              "`pip install -e '.[dashboard]'` in dd_tune's folder, then `optuna-dashboard sqlite:///optuna.db` for "
              "its dashboard, whose \"Best Trial\" is the best proxy score, not the confirmed choice)",
              ""]
    return "\n".join(lines)


def write_report(result: StudyResult, study_dir: Path) -> None:
    """``report.md`` and ``report.html`` rendered from the result, then ``report.json`` (its plain data),
    each written atomically. ``report.json`` marks a study finished, so it comes last: a failure (a full
    disk) leaves no file that looks finished, and ``--resume`` writes the report again."""
    markdown = render_markdown(result)
    page = markdown_to_html(markdown, study_dir, f"dd_tune study {result.study}")
    data = json.dumps(result.to_dict(), indent=2, default=str)
    try:
        for name, text in (("report.md", markdown), ("report.html", page), (REPORT_FILE, data)):
            atomic_write_text(study_dir / name, text)
    except OSError as e:
        raise StudyStateError(f"cannot write the report of study {result.study} into {study_dir} "
                              f"({e.strerror or e}); nothing there looks finished: free space (or fix the "
                              f"folder), then run the same command with --resume to write it") from None
