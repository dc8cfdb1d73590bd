"""A suite's answers to an earlier report: its results beside dd_tune at the same setting and tuned
(``report_rows``), and each method tuned from real images beside tuned from noise (``noise_pairs``).

Works on the studies' ``report.json`` data. Differences: tuned vs at-setting and noise vs real are paired
by model seed (a suite shares the seed and the final protocol), anything vs random real is Welch's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL
from dd_tune.config import SuiteConfig
from dd_tune.records import IpcResult, SetAccuracy, StudyResult, TrialRecord
from dd_tune.records.stats import entry_difference, format_difference, format_interval, prediction_interval, summary
from dd_tune.report.curves import curves_plot, progress_figure
from dd_tune.report.rows import fmt_acc

Results = Mapping[str, StudyResult]  # study name -> its results


def _ipc_data(rep: StudyResult, ipc: Any = None) -> IpcResult:
    """The results at ``ipc`` (a report row's setting names it) where the study ran it, else at its first
    IPC (a profile that ran another IPC: the row's setting check then says so)."""
    return rep.by_ipc.get(str(ipc)) or next(iter(rep.by_ipc.values()))


def _entry(rep: StudyResult | None, name: str, arch: str, ipc: Any = None) -> SetAccuracy | None:
    if rep is None:
        return None
    entry = _ipc_data(rep, ipc).reeval.get(name, {}).get(arch)
    return entry if entry and entry.runs else None


def _config_of(rep: StudyResult, name: str, ipc: Any = None) -> Mapping[str, Any]:
    data = _ipc_data(rep, ipc)
    if name == BEST:
        return data.best_config
    if name == DEFAULT:
        return data.default_config
    return data.named_configs.get(name, {})


def setting_check(setting: Mapping[str, Any], ran: Mapping[str, Any]) -> list[str]:
    """Where the run differs from the report's setting: ``["iterations 100 (report 1000)", ...]``."""
    return [f"{k} {ran.get(k)} (report {v})" for k, v in setting.items() if ran.get(k) != v]


def report_rows(suite: SuiteConfig, results: Results, full_data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One plain row per ``suite.report_rows`` entry (what compare.json stores and the table shows)."""
    rows = []
    for spec in suite.report_rows:
        row: dict[str, Any] = {"title": spec.title, "reported": spec.reported, "arch": spec.arch,
                               "elsewhere": spec.elsewhere, "at_setting": None, "tuned": None,
                               RANDOM_REAL: None, "differs": [], "tuned_study": "", "note": spec.note}
        if spec.set == "full_data":
            # full_data.json: the suite's reference as plain data ({mean, ..., runs}), read back on resume
            row["at_setting"] = SetAccuracy.from_dict(full_data["convnet"]) if full_data.get("convnet") else None
            how = f" ({suite.report_name}: {suite.report_protocol})" if suite.report_protocol else ""
            row["differs"] = [f"{full_data.get('epochs', 0) + 1} epochs with the protocol's step schedule and "
                              f"DSA{how}"] if full_data else []
        elif spec.study and spec.study in results:
            rep, tuned_study, ipc = results[spec.study], spec.tuned_study or spec.study, spec.setting.get("ipc")
            row["at_setting"] = _entry(rep, spec.set, spec.arch, ipc)
            row["differs"] = setting_check(spec.setting, _config_of(rep, spec.set, ipc))
            # a profile that runs one trial (the defaults) searched nothing: no "tuned" to show
            searched = tuned_study in results and len(_ipc_data(results[tuned_study], ipc).trials) != 1
            row["tuned"] = _entry(results.get(tuned_study), BEST, spec.arch, ipc) if searched else None
            row["tuned_study"] = tuned_study
            row[RANDOM_REAL] = _entry(rep, RANDOM_REAL, spec.arch, ipc)
        elif spec.study in suite.not_run:
            row["elsewhere"] = (f"the `{suite.profile}` profile leaves {spec.study} out; `python -m dd_tune.compare "
                                f"{suite.name} --profile quick` runs it")
        row["tuned_minus_setting"] = entry_difference(row["tuned"], row["at_setting"], paired=True)
        row["tuned_minus_random_real"] = entry_difference(row["tuned"], row[RANDOM_REAL], paired=False)
        row["sentence"] = row_sentence(row, suite.report_name)
        rows.append(row)
    return rows


def row_sentence(row: Mapping[str, Any], report: str) -> str:
    """What the row means, in one sentence built from its numbers."""
    at = row["at_setting"]
    if at is None:
        return f"Not measured here: {row['elsewhere']}." if row["elsewhere"] else "Not measured (no result)."
    mean = summary(at.runs)["mean"]
    pi = prediction_interval(at.runs)  # the report's number is one model's: compare it with one new model
    where = "at a scaled setting (" + "; ".join(row["differs"]) + ")" if row["differs"] else "at its setting"
    if pi is None:
        place = f"{row['reported'] - mean:+.2f} points from dd_tune's single model (no interval)"
    elif pi[0] <= row["reported"] <= pi[1]:
        place = (f"inside the 95 % prediction interval for one new dd_tune model {format_interval(pi)}: "
                 "consistent with it")
    else:
        side = "above" if row["reported"] > pi[1] else "below"
        gap = min(abs(row["reported"] - c) for c in pi)
        place = (f"outside the 95 % prediction interval for one new dd_tune model {format_interval(pi)}, {side} it by "
                 f"{gap:.2f} points")
    text = f"{_possessive(report.capitalize())} {row['reported']:.2f} % lies {place}, {where}"
    if row["tuned"] is not None and row["tuned_minus_setting"] is not None:
        text += (f"; tuned ({row['tuned_study']}): {summary(row['tuned'].runs)['mean']:.2f} %, "
                 f"{format_difference(row['tuned_minus_setting'])} against the report's setting")
    if row["tuned_minus_random_real"] is not None:
        text += f", {format_difference(row['tuned_minus_random_real'])} against random real"
    return text + "."


def report_table(rows: Sequence[Mapping[str, Any]], report: str, report_protocol: str = "",
                 protocol: str = "") -> list[str]:
    """The published numbers beside dd_tune's; every dd_tune cell is labelled with the evaluation protocol
    that produced it and how that protocol differs from the authors' (``protocol``: the study's line)."""
    intro = ""
    if report_protocol:
        intro = f"{report.capitalize()} evaluated with {report_protocol}. "
    if protocol:
        intro += (f"Every dd_tune cell (†) was evaluated with {protocol}; where that is not the report's own "
                  f"protocol, a gap mixes protocol and distillation. ")
    lines = [f"## {_possessive(report.capitalize())} results, re-run", "",
             intro + "Cells: mean ± sample std [95 % interval] over fresh models; \"(scaled)\": the profile ran a "
             "smaller budget than the report (the row's sentence says which keys).", "",
             f"| experiment | model | {report} | dd_tune at its setting † | dd_tune tuned † | random real † |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        at = fmt_acc(r["at_setting"], with_n=True) if r["at_setting"] else "not run here"
        scaled = " (scaled)" if r["differs"] and r["at_setting"] else ""
        lines.append(f"| {r['title']} | {r['arch']} | {r['reported']:.2f} | {at}{scaled} | "
                     f"{fmt_acc(r['tuned'], with_n=False) if r['tuned'] else 'n/a'} | "
                     f"{fmt_acc(r[RANDOM_REAL], with_n=False) if r[RANDOM_REAL] else 'n/a'} |")
    lines += ["", *[f"- **{r['title']}.** {r['sentence']}" + (f" {r['note']}" if r.get("note") else "")
                    for r in rows], ""]
    return lines


def _best_trial(rep: StudyResult) -> TrialRecord | None:
    ok = [t for t in _ipc_data(rep).trials if t.scored and math.isfinite(t.val_acc or math.nan)]
    return max(ok, key=lambda t: (t.val_acc or 0.0, t.iteration or 0)) if ok else None


def noise_pair(real: StudyResult, noise: StudyResult, out_dir: Path) -> dict[str, Any]:
    """Tuned from real vs tuned from noise: accuracies, the paired difference, the curves, the pictures."""
    out: dict[str, Any] = {"method": real.method, "real_study": real.study, "noise_study": noise.study}
    for arch in ("convnet", "lenet"):
        a, b = _entry(noise, BEST, arch), _entry(real, BEST, arch)
        out[arch] = {"noise": a, "real": b, "noise_minus_real": entry_difference(a, b, paired=True)}
    best = {"real": _best_trial(real), "noise": _best_trial(noise)}
    series = {f"{init} init, best trial": t.history if t else () for init, t in best.items()}
    others = {f"{init} init, other trials": [t.history for t in _ipc_data(rep).trials
                                             if t is not best[init] and t.history]
              for init, rep in (("real", real), ("noise", noise))}
    stem = f"{real.study}_vs_{noise.study}"
    out["curves"] = curves_plot(series, others, out_dir / f"curves_{stem}.png",
                                f"{real.method}: validation accuracy vs iteration")
    out["progress"] = progress_figure({"real init": _ipc_data(real).progress, "noise init": _ipc_data(noise).progress},
                                      out_dir / f"progress_{stem}.png")
    out["best_noise_config"] = _ipc_data(noise).best_config
    out["best_noise_counters"] = best["noise"].counters if best["noise"] else {}
    out["best_noise_it"] = best["noise"].iteration if best["noise"] else None
    return out


def noise_lines(pairs: Sequence[Mapping[str, Any]]) -> list[str]:
    if not pairs:
        return []
    lines = ["## From noise, tuned for noise", "",
             "Each method searched twice with the same budget: from real images (its usual init) and from "
             "noise only (init fixed, a space with larger steps and longer budgets). Tuned test accuracy:", "",
             "| method | ConvNet from real | ConvNet from noise | noise − real | LeNet from real | LeNet from noise |",
             "|---|---|---|---|---|---|"]
    for p in pairs:
        c, le = p["convnet"], p["lenet"]
        d = format_difference(c["noise_minus_real"]) if c["noise_minus_real"] else "n/a"
        lines.append(f"| {p['method']} | {fmt_acc(c['real'], False)} | {fmt_acc(c['noise'], False)} | {d} | "
                     f"{fmt_acc(le['real'], False)} | {fmt_acc(le['noise'], False)} |")
    lines.append("")
    for p in pairs:
        counters = p["best_noise_counters"]
        skipped = (f"; its best noise trial skipped {counters['skipped_steps']:.0f} of {p['best_noise_it']} updates "
                   f"({counters.get('skipped_threshold', 0):.0f} over the loss threshold)"
                   if counters.get("skipped_steps") else "")
        lowest = counters.get("matching_loss_min")
        if lowest is not None and math.isfinite(lowest):  # reports of earlier versions have none
            skipped += (f"; its lowest matching loss was {counters['matching_loss_min']:.3f}, and "
                        f"{100 * counters.get('matching_under_threshold', 0.0):.0f} % of its iterations had a finite "
                        f"loss at or under the threshold")
        figures = ", ".join(f"`{p[k]}`" for k in ("curves", "progress") if p.get(k))
        lines.append(f"- {p['method']}: best noise configuration "
                     f"{ {k: v for k, v in p['best_noise_config'].items() if not isinstance(v, dict)} }{skipped}"
                     f"{'; figures ' + figures if figures else ''}.")
    return lines + ["", "Curves: every report's validation accuracy (TensorBoard has the same scalars per trial). "
                    "Pictures: the best trial's set at iteration 0, half-way and at the end.", ""]


def _possessive(name: str) -> str:
    """"the seed report's", "the published tables'"."""
    return name + ("'" if name.endswith("s") else "'s")
