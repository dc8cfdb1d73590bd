"""Finished studies, queried without re-running anything: find their ``report.json`` files, read them as
typed results, and put their headline numbers in one table (text, CSV or JSON), or a study's trials in a
DataFrame.

Python use::

    import dd_tune
    results = dd_tune.load_results("runs")      # every study under ./runs (suites included), typed
    df = results.to_frame()                     # one row per study and IPC, one column per number
    trials = dd_tune.trials_frame(results[0])   # the first study's trials: config, proxy accuracy, ...
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

from dd_tune.base.errors import ConfigError, DDTuneError
from dd_tune.base.keys import BEST, DEFAULT, ITERATIONS_RUN, METRIC, RANDOM_REAL
from dd_tune.base.printable import printable
from dd_tune.core.protocols import CONFIG_KEY, protocol_name
from dd_tune.records import IpcResult, SetAccuracy, StudyResult
from dd_tune.records.stats import summary
from dd_tune.report.rows import differences, ran_text
from dd_tune.report.stored import REPORT_FILE, load_study_report
from dd_tune.report.tables import fmt_value

FORMATS = ("text", "csv", "json")
COLUMNS = ("study", "method", "dataset", "profile", "ipc", "arch", CONFIG_KEY, "defaults", "tuned",
           "tuned_iterations", "random_real", "tuned_minus_defaults", "trials", "chosen", "confirmation",
           "wall_time_s", "chosen_config", "path")
INTERVAL_COLUMNS = ("defaults", "tuned", "random_real", "tuned_minus_defaults")


ARCHS = ("convnet", "lenet")


def find_reports(paths: Sequence[str | Path]) -> list[Path]:
    """The ``report.json`` of each path that is a study directory, or of every study below a storage or
    suite directory (two levels: ``<storage>/<study>``, ``<storage>/<suite>/<study>``)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.name == REPORT_FILE and path.exists() and not path.is_dir():
            found.append(path)
        elif (path / REPORT_FILE).exists():
            found.append(path / REPORT_FILE)
        elif path.is_dir():
            found += sorted(path.glob("*/report.json")) + sorted(path.glob("*/*/report.json"))
        else:
            raise ConfigError(f"{given}: no such study, suite or storage directory")
    if not found:
        raise ConfigError(f"no finished study (report.json) under {', '.join(map(str, paths))}")
    return list(dict.fromkeys(p.resolve() for p in found))


def load_results(paths: str | Path | Sequence[str | Path]) -> Results:
    """Every finished study under ``paths`` (one path or several), typed; the first file that is not a
    study report is one error (:func:`load_results_checked` keeps the good ones and names the bad)."""
    results, problems = load_results_checked([paths] if isinstance(paths, (str, Path)) else paths)
    if problems:
        raise ConfigError(problems[0])
    return Results(results)


def load_results_checked(paths: Sequence[str | Path]) -> tuple[list[StudyResult], list[str]]:
    """(every study under ``paths`` whose report reads back, one line per report that does not: a
    directory, a FIFO, broken JSON, NaN accuracies, wrong types...) so one bad file hides no good study."""
    results, problems = [], []
    for path in find_reports(paths):
        try:
            results.append(load_study_report(path, "it is not listed (delete it, or re-run that study with --force)"))
        except DDTuneError as e:
            problems.append(printable(e))
    return results, problems


def _cell(entry: SetAccuracy | None) -> dict[str, Any] | None:
    """mean, interval and n of a row (random real already by draw means: StudyResult.from_dict)."""
    if not entry or not entry.runs:
        return None
    s = summary(entry.runs)
    return {"mean": round(s["mean"], 2), "ci95": [round(v, 2) for v in s["ci95"]] if s["ci95"] else None,
            "n": s["n"]}


def summary_rows(results: Sequence[StudyResult], arch: str = "convnet") -> list[dict[str, Any]]:
    """One row per study and IPC: the reference defaults, the tuned set and random real on ``arch``
    (mean, 95 % interval, n), the paired tuned − defaults difference, the trials and the wall time; which
    evaluation protocol measured them, and the iterations the tuned set ran ("2 of 6, stopped early by ASHA"
    when its trial was stopped before its budget)."""
    rows = []
    for r in results:
        for ipc, row in r.by_ipc.items():
            diff = next((d.difference for d in (row.differences or differences(row.reeval))
                         if (d.a, d.b, d.arch) == (BEST, DEFAULT, arch)), None)
            rows.append({
                "study": r.study, "method": r.method, "dataset": r.dataset, "profile": r.profile, "ipc": int(ipc),
                "arch": arch, CONFIG_KEY: protocol_name(r.protocol),
                "defaults": _cell(row.reeval.get(DEFAULT, {}).get(arch)),
                "tuned": _cell(row.reeval.get(BEST, {}).get(arch)), "tuned_iterations": ran_text(row.best_config),
                RANDOM_REAL: _cell(row.reeval.get(RANDOM_REAL, {}).get(arch)),
                "tuned_minus_defaults": None if diff is None else {
                    "diff": round(diff.diff, 2),
                    "ci95": [round(v, 2) for v in diff.ci95] if diff.ci95 else None},
                "trials": row.n_trials, **_choice(row), "wall_time_s": round(row.wall_time_s),
                "path": r.study_dir})
    return rows


def _choice(row: IpcResult) -> dict[str, Any]:
    """The chosen trial (``t03``, ``t00 = defaults`` when the reference defaults won), its confirmation
    accuracy on validation, and its configuration as the values that differ from the reference defaults."""
    chosen = row.confirmation.chosen if row.confirmation else None
    name = "" if chosen is None else chosen.name + (" = defaults" if chosen.is_default else "")
    changed = {k: v for k, v in row.best_config.items()
               if k not in (ITERATIONS_RUN, "ipc") and row.default_config.get(k) != v}
    return {"chosen": name, "confirmation": None if chosen is None else round(chosen.mean, 2),
            "chosen_config": " ".join(f"{k}={fmt_value(v)}" for k, v in changed.items()) or "the reference defaults"}


def flat_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with one column per number: ``tuned`` -> ``tuned``, ``tuned_ci_low``, ``tuned_ci_high``,
    ``tuned_n`` (the CSV's columns; a DataFrame's)."""
    out = []
    for row in rows:
        flat: dict[str, Any] = {}
        for c in COLUMNS:
            v = row[c]
            if c in INTERVAL_COLUMNS:
                ci = (v or {}).get("ci95") or [None, None]
                flat.update({c: (v or {}).get("mean", (v or {}).get("diff")), f"{c}_ci_low": ci[0],
                             f"{c}_ci_high": ci[1], **({f"{c}_n": (v or {}).get("n")} if c != "tuned_minus_defaults"
                                                      else {})})
            else:
                flat[c] = v
        out.append(flat)
    return out


class Results(list[StudyResult]):
    """Finished studies (typed :class:`StudyResult` objects) with the summary as a table."""

    def rows(self, arch: str = "convnet") -> list[dict[str, Any]]:
        """One flat dict per study and IPC (:func:`flat_rows` of :func:`summary_rows`)."""
        return flat_rows(summary_rows(self, arch))

    def to_frame(self, arch: str = "convnet") -> Any:
        """The summary as a pandas DataFrame, one row per study and IPC, one column per number."""
        import pandas as pd

        return pd.DataFrame(self.rows(arch))


def _text_cell(v: Any) -> str:
    value: Any = v.get("mean", v.get("diff")) if isinstance(v, dict) else None
    if isinstance(v, dict) and value is not None:
        mean = float(value)
        ci = v.get("ci95")
        sign = "+" if "diff" in v and mean >= 0 else ""
        return f"{sign}{mean:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    return "n/a" if v is None else str(v)


def render(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    """``rows`` as an aligned text table, CSV (intervals in their own columns) or JSON."""
    if fmt == "json":  # strict JSON: a missing number is null, not NaN
        return json.dumps(_no_nan(list(rows)), indent=2, allow_nan=False)
    if fmt == "csv":
        out = io.StringIO()
        flat = flat_rows(rows)
        writer = csv.DictWriter(out, fieldnames=list(flat[0]) if flat else list(COLUMNS))
        writer.writeheader()
        for line in flat:
            writer.writerow({k: printable(v) if isinstance(v, str) else v for k, v in line.items()})
        return out.getvalue()
    if fmt != "text":
        raise ConfigError(f"unknown format {fmt!r}; choose from {list(FORMATS)}")
    shown = [c for c in COLUMNS if c != "path"]
    table = [shown] + [[printable(_text_cell(row[c])) for c in shown] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(shown))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table) + "\n"


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def trials_frame(result: StudyResult, ipc: int | None = None) -> Any:
    """One study's trials as a pandas DataFrame: trial, each searched value, the proxy accuracy, the
    iterations run, the error (None when it finished)."""
    import pandas as pd

    row = result.by_ipc[str(ipc)] if ipc is not None else result.first
    return pd.DataFrame([{"trial": t.trial, **{f"config.{k}": v for k, v in t.config.items()},
                          METRIC: t.val_acc, "iterations": t.iteration, "error": t.error}
                         for t in row.trials])
