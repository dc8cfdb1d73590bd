"""The suite's comparison report: plain data (``compare.json``) and its markdown (``compare.md``).

Cells are mean ± sample std [95 % interval]; differences between rows come with their intervals:
tuned vs default and method vs method are paired by model seed (a suite shares the seed and the final
protocol, so model k of every set starts from the same initialisation and draws), method vs random
real is Welch's (random real pools several draws).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.base.atomic import atomic_write_text
from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL
from dd_tune.config import SuiteConfig
from dd_tune.records import ExpertFlops, Fidelity, Reeval, RowDifference, SetAccuracy, StudyResult
from dd_tune.records.fidelity import pooled_tau
from dd_tune.records.stats import entry_difference, format_difference
from dd_tune.report.reproduction import noise_lines, noise_pair, report_rows, report_table
from dd_tune.report.rows import configuration_text, fmt_acc, set_title
from dd_tune.report.rows import matched_random_real as matched_row
from dd_tune.report.tables import fmt_flops

ARCHS = ("convnet", "lenet")


def _acc(reeval: Reeval, name: str, arch: str) -> SetAccuracy | None:
    entry = reeval.get(name, {}).get(arch)
    return entry if entry and entry.runs else None


def _name(row: Mapping[str, Any]) -> str:
    """The method, or the study where the suite runs the method twice (``label``)."""
    return str(row.get("label", row["method"]))


def _cell(entry: SetAccuracy | None) -> str:
    return "n/a" if entry is None else fmt_acc(entry, with_n=False)


def comparison_differences(rows: Sequence[Mapping[str, Any]]) -> list[RowDifference]:
    """Per IPC and architecture: each method's tuned - default (paired) and tuned - random real (Welch),
    and tuned A - tuned B for every pair of methods (paired by model seed)."""
    out = []
    for ipc in sorted({r["ipc"] for r in rows}):
        at = [r for r in rows if r["ipc"] == ipc]
        pairs = [(r, BEST, r, DEFAULT, True) for r in at] + [(r, BEST, r, matched_random_real(r), False) for r in at]
        pairs += [(a, BEST, b, BEST, True) for i, a in enumerate(at) for b in at[i + 1:]]
        for ra, sa, rb, sb, paired in pairs:
            for arch in ARCHS:
                d = entry_difference(ra["accuracy"].get(sa, {}).get(arch), rb["accuracy"].get(sb, {}).get(arch), paired)
                if d is not None:
                    out.append(RowDifference(f"{_name(ra)} {set_title(sa)}", f"{_name(rb)} {set_title(sb)}", arch,
                                             d, ipc))
    return out


def matched_random_real(row: Mapping[str, Any]) -> str:
    """The random-real row a comparison row's tuned set is set against (:func:`rows.matched_random_real`)."""
    return matched_row(row.get("best_config") or {}, row["accuracy"])


def verdict_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """One sentence: for which methods and IPCs tuning beat the reference defaults on ConvNet (paired 95 %
    interval above 0), gave no evidence either way (interval covering 0), or did worse."""
    kinds: dict[str, list[str]] = {"better": [], "unclear": [], "worse": []}
    for r in rows:
        d = entry_difference(r["accuracy"].get(BEST, {}).get("convnet"),
                             r["accuracy"].get(DEFAULT, {}).get("convnet"), paired=True)
        if d is None:
            continue
        where = f"{_name(r)} at IPC {r['ipc']}"
        if d.kind == "same":
            kinds["unclear"].append(f"{where} (the defaults won the search)")
        elif d.ci95 is None or d.covers_zero:
            kinds["unclear"].append(f"{where} ({format_difference(d).split(' (covers')[0]})")
        else:
            kinds["better" if d.diff > 0 else "worse"].append(f"{where} ({format_difference(d)})")
    said = {"better": "beat the reference defaults clearly (ConvNet test accuracy, paired 95 % interval above 0)",
            "unclear": "gave no evidence either way (interval covering 0)",
            "worse": "did clearly worse than the defaults"}
    parts = [f"tuning {said[k]} for {', '.join(v)}" for k, v in kinds.items() if v]
    text = "; ".join(parts) if parts else "no method has a tuned and a default row"
    return f"**Verdict.** {text[0].upper()}{text[1:]}."


def _difference_lines(diffs: Sequence[RowDifference], ipc: int) -> list[str]:
    at = [d for d in diffs if d.ipc == ipc]
    if not at:
        return []
    lines = ["Differences in test accuracy (points), 95 % intervals (paired by model seed, Welch against "
             "random real):", "", "| difference | ConvNet | LeNet |", "|---|---|---|"]
    for a, b in dict.fromkeys((d.a, d.b) for d in at):
        cells = {d.arch: format_difference(d.difference) for d in at if (d.a, d.b) == (a, b)}
        lines.append(f"| {a} − {b} | {cells.get('convnet', 'n/a')} | {cells.get('lenet', 'n/a')} |")
    return lines + [""]


def comparison_rows(results: Sequence[StudyResult]) -> list[dict[str, Any]]:
    """One row per (method, IPC) with the numbers the comparison needs."""
    rows = []
    for result in results:
        first = next(iter(result.by_ipc))
        for ipc, r in result.by_ipc.items():
            # the expert stage serves every IPC of a study; it is charged to the study's first IPC
            charged = result.expert_stage if ipc == first else None
            rows.append({
                "study": result.study, "method": result.method, "ipc": int(ipc), "n_trials": r.n_trials,
                "n_failed": r.n_errors + r.n_diverged,
                "accuracy": {name: {arch: _acc(r.reeval, name, arch) for arch in ARCHS} for name in r.reeval},
                "step_size": _step_size(r.reeval),
                "expert_flops": charged.flops if charged else None,
                "best_val_acc": r.best_val_acc,
                "wall_time_s": r.wall_time_s,
                "expert_seconds": charged.seconds if charged else 0.0,
                "cpu_seconds": r.compute.get("cpu_seconds", 0.0) + (charged.cpu_seconds if charged else 0.0),
                "gpu_seconds": r.compute.get("gpu_seconds", 0.0) + (charged.gpu_seconds if charged else 0.0),
                "flops_tuned": r.flops.distillation_best, "flops_default": r.flops.distillation_default,
                "best_config": r.best_config,
                "title": r.titles.get(BEST, ""),
                "verdict": r.confirmation.verdict if r.confirmation else "",
                "fidelity": r.fidelity,
                "report": str(Path(result.study_dir) / "report.md"),
            })
    studies = {m: {x["study"] for x in rows if x["method"] == m} for m in {x["method"] for x in rows}}
    for row in rows:  # a suite may run a method twice (from real, from noise): name the study then
        row["label"] = row["method"] if len(studies[row["method"]]) == 1 else row["study"]
    return rows


def _step_size(reeval: Reeval) -> float | None:
    best = reeval.get(BEST, {}).get("convnet")
    return best.lr if best is not None else None


def plain(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: a dataclass (a SetAccuracy in a row) as its fields."""
    if hasattr(value, "to_json"):  # a record: its own JSON layout, as in report.json
        return value.to_json()
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else str(value)


def render_comparison(suite: SuiteConfig, rows: Sequence[Mapping[str, Any]], wall_time_s: float,
                      diffs: Sequence[RowDifference] = (), opening: Sequence[str] = ()) -> str:
    lines = [f"# Comparison `{suite.name}` (profile `{suite.profile}`)", "",
             (suite.description.strip() + "\n") if suite.description else "",
             f"Wall time {wall_time_s:.0f} s. Every method was searched with the same number of trials per IPC "
             f"on a validation split of the training set and re-evaluated once on the **test** set with the "
             f"same protocol (fresh models; cells: mean ± sample std [95 % interval]); random real is the "
             f"same-IPC baseline, drawn several times.", "", verdict_line(rows), "", *opening]
    for ipc in sorted({r["ipc"] for r in rows}):
        at = [r for r in rows if r["ipc"] == ipc]
        lines += [f"## IPC {ipc}", "",
                  "| method | default ConvNet | tuned ConvNet | default LeNet | tuned LeNet | trials (failed) |"
                  " wall time | CPU-s | GPU-s | distillation FLOPs default → tuned |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in at:
            a = r["accuracy"]
            lines.append(
                f"| {_name(r)} | {_cell(a[DEFAULT]['convnet'])} | {_cell(a[BEST]['convnet'])} | "
                f"{_cell(a[DEFAULT]['lenet'])} | {_cell(a[BEST]['lenet'])} | {r['n_trials']} ({r['n_failed']}) | "
                f"{r['wall_time_s'] + r['expert_seconds']:.0f} s | {r['cpu_seconds']:.0f} | {r['gpu_seconds']:.0f} | "
                f"{fmt_flops(r['flops_default'])} → {fmt_flops(r['flops_tuned'])} |")
        lines += ["", *_random_real_lines(at, ipc), "", *_difference_lines(diffs, ipc), *_choice_lines(at)]
        lines += _extra_set_lines(at)
        for r in at:
            alpha = f"; learned step size α {r['step_size']:.4g}" if r.get("step_size") not in (None, 0.01) else ""
            experts: ExpertFlops | None = r.get("expert_flops")
            cost = (f"; expert stage {fmt_flops(experts.difficulty)} scoring + "
                    f"{fmt_flops(experts.training)} training" if experts else "")
            lines.append(f"- {_name(r)}: tuned configuration: {configuration_text(r['best_config'])}{alpha}"
                         f"{cost}; full report `{r['report']}`")
        lines.append("")
    lines += ["CPU-s / GPU-s: trial seconds x the per-trial request (search and expert stage; re-evaluation "
              "excluded). FLOPs: fvcore forward counts times each method's own passes per iteration "
              "(distillation only; PAD's expert stage on its own line).", ""]
    return "\n".join(lines)


def _choice_lines(at: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per method: what was chosen and whether it beat the defaults on validation; then the proxy's
    fidelity pooled over the suite (pairs of finalists within each study)."""
    lines = [f"- {_name(r)}: tuned = {r['title'] or 'n/a'}. {r['verdict']}" for r in at if r.get("verdict")]
    fids: list[Fidelity] = [r["fidelity"] for r in at if r.get("fidelity")]
    if not fids:
        return lines
    parts = []
    for label, pooled in (("proxy vs confirmation", pooled_tau([(f.proxy, f.confirmation) for f in fids])),
                          ("confirmation vs test", pooled_tau([(f.confirmation, f.test) for f in fids]))):
        tau = "n/a" if pooled.tau is None else f"{pooled.tau:+.2f}"
        parts.append(f"{label} {tau} ({pooled.pairs} pairs of {pooled.n} finalists in {pooled.groups} studies)")
    regrets = [f.regret_proxy for f in fids if f.regret_proxy is not None]
    regret = f"; mean regret of picking by the proxy alone {sum(regrets) / len(regrets):.2f} points" if regrets else ""
    return lines + ["", "Proxy fidelity pooled over the suite (Kendall's tau over pairs of finalists within each "
                    "study): " + "; ".join(parts) + regret + ".", ""]


def _extra_set_lines(at: Sequence[Mapping[str, Any]]) -> list[str]:
    extra = sorted({n for r in at for n in r["accuracy"] if n not in (BEST, DEFAULT, RANDOM_REAL)})
    if not extra:
        return []
    lines = ["| method | set | ConvNet | LeNet |", "|---|---|---|---|"]
    for r in at:
        for name in extra:
            if name in r["accuracy"]:
                acc = r["accuracy"][name]
                lines.append(f"| {_name(r)} | {set_title(name)} | {_cell(acc['convnet'])} | {_cell(acc['lenet'])} |")
    return lines + [""]


def _random_real_lines(at: Sequence[Mapping[str, Any]], ipc: int) -> list[str]:
    """One line when every study drew the same random-real set (same seed and training split), else one
    per method (e.g. a study that trains on a per-class subset draws its baseline from that subset)."""
    cells = {}
    for r in at:
        rr = r["accuracy"].get(RANDOM_REAL, {})
        cells[_name(r)] = (_cell(rr.get("convnet")), _cell(rr.get("lenet")))
    if len(set(cells.values())) == 1:
        convnet, lenet = next(iter(cells.values()))
        return [f"Random real at IPC {ipc}: ConvNet {convnet}, LeNet {lenet}."]
    return [f"Random real at IPC {ipc}, drawn from each study's training set:", ""] + [
        f"- {method}: ConvNet {convnet}, LeNet {lenet}" for method, (convnet, lenet) in cells.items()]


def summary_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        a = r["accuracy"]
        out.append(f"ipc {r['ipc']} {_name(r):8s} default convnet {_cell(a[DEFAULT]['convnet'])} -> tuned "
                   f"{_cell(a[BEST]['convnet'])}; lenet {_cell(a[DEFAULT]['lenet'])} -> "
                   f"{_cell(a[BEST]['lenet'])}")
    return out


def write_comparison(suite: SuiteConfig, results: Sequence[StudyResult], suite_dir: Path, wall_time_s: float,
                     full_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    rows = comparison_rows(results)
    diffs = comparison_differences(rows)
    by_study = {r.study: r for r in results}
    answers = report_rows(suite, by_study, full_data or {})
    pairs = [noise_pair(by_study[real], by_study[noise], suite_dir / "figures")
             for real, noise in suite.noise_pairs]
    protocol = results[0].protocol if results else ""
    opening = [*scope_lines(suite, results),
               *(report_table(answers, suite.report_name, suite.report_protocol, protocol) if answers else []),
               *noise_lines(pairs)]
    data = {"suite": suite.name, "profile": suite.profile, "studies": list(suite.studies),
            "wall_time_s": wall_time_s, "report_rows": answers, "noise_vs_real": pairs,
            "full_data": full_data or {}, "rows": rows, "differences": [d.to_json() for d in diffs],
            "verdict": verdict_line(rows),
            "summary": [*(f"{a['title']}: {a['sentence']}" for a in answers), *summary_lines(rows)]}
    atomic_write_text(suite_dir / "compare.md", render_comparison(suite, rows, wall_time_s, diffs, opening))
    atomic_write_text(suite_dir / "compare.json", json.dumps(data, indent=2, default=plain))
    return data


def scope_lines(suite: SuiteConfig, results: Sequence[StudyResult]) -> list[str]:
    """What this comparison is not: the suite's studies a profile left out, and a smoke profile's budgets
    (capped held-out sets: a plumbing check, not a result)."""
    lines = []
    if suite.not_run:
        lines.append(f"> This profile ran {', '.join(f'`{s}`' for s in suite.studies)} only; "
                     f"{', '.join(f'`{s}`' for s in suite.not_run)} of the suite were left out (their rows "
                     f"below say which profile measures them).")
    if any(r.profile == "smoke" or "not a result" in r.protocol for r in results):
        lines.append("> Not a result: smoke budgets (a few iterations, held-out sets capped to a few hundred "
                     "images) check that the suite runs end to end; its numbers answer no question.")
    return [*lines, ""] if lines else []
