"""A study's fingerprint, and where two studies part.

``report.json`` carries ``fingerprint``: hashes of the study's inputs (the resolved configuration, the
code of the dd_tune package, the dataset's images and labels as loaded, and the library versions) and of
its outcome (every trial's configuration, proxy score, iterations and error, the chosen configuration and
every test row's per-model accuracies). Two runs with equal outcome hashes gave the same study, trial for
trial. ``python -m dd_tune.results A B --diff`` compares two studies and names the first trial, the choice or
the first test row where they part.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from dd_tune.base.hashing import content_key
from dd_tune.base.keys import ITERATION, METRIC, trial_number
from dd_tune.records import Fingerprint, IpcResult, StudyResult
from dd_tune.records.provenance import INPUT_PARTS


def inputs_fingerprint(config: str, code: str, data: str, libraries: Mapping[str, str]) -> Fingerprint:
    """The config, code and data hashes and library versions with ``inputs``: the hash of them all."""
    parts = {"config": config, "code": code, "data": data, "libraries": dict(libraries)}
    return Fingerprint(config, code, data, dict(libraries), content_key({k: parts[k] for k in INPUT_PARTS}))


def _trials(row: IpcResult) -> list[dict[str, Any]]:
    """What a trial's outcome is: its configuration, score, iterations reached and error (no timing, node or
    path, which differ between runs of the same study), in trial-number order."""
    out = [{"trial": t.trial, "config": t.config, METRIC: t.val_acc, ITERATION: t.iteration, "error": t.error}
           for t in row.trials]
    return sorted(out, key=lambda t: (trial_number(str(t["trial"])) or 0, str(t["trial"])))


def _tests(row: IpcResult) -> dict[str, dict[str, list[float]]]:
    return {name: {arch: list(entry.runs) for arch, entry in by_arch.items()} for name, by_arch in row.reeval.items()}


def outcome(result: StudyResult) -> dict[str, Any]:
    """Everything the outcome hash covers, per IPC."""
    return {ipc: {"trial_outcomes": _trials(row), "chosen": row.best_config, "test": _tests(row)}
            for ipc, row in result.by_ipc.items()}


def outcome_digest(result: StudyResult) -> str:
    return content_key(outcome(result))


def differences(a: StudyResult, b: StudyResult) -> list[str]:
    """Where two studies differ, in words: the inputs that differ, then, per IPC, the first trial where they
    part, the choice, the first test row that differs. [] when their outcomes are identical."""
    fa, fb = a.fingerprint, b.fingerprint
    lines = [f"inputs differ in the {part}" for part in INPUT_PARTS
             if getattr(fa, part, None) != getattr(fb, part, None)]
    oa, ob = outcome(a), outcome(b)
    if oa == ob:
        return lines
    for ipc in sorted(set(oa) | set(ob)):
        if ipc not in oa or ipc not in ob:
            lines.append(f"IPC {ipc} is in only one of the two studies")
            continue
        lines += _ipc_differences(ipc, oa[ipc], ob[ipc])
    return lines


def _ipc_differences(ipc: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    lines = []
    for ta, tb in zip(a["trial_outcomes"], b["trial_outcomes"]):
        if ta != tb:
            what = [k for k in ta if ta[k] != tb.get(k)]
            lines.append(f"IPC {ipc}: the first trial where they part is {ta['trial']}"
                         + (f" / {tb['trial']}" if ta["trial"] != tb["trial"] else "") + ": "
                         + "; ".join(f"{k} {_short(ta[k])} vs {_short(tb[k])}" for k in what if k != "trial"))
            break
    else:
        if len(a["trial_outcomes"]) != len(b["trial_outcomes"]):
            lines.append(f"IPC {ipc}: {len(a['trial_outcomes'])} vs {len(b['trial_outcomes'])} trials (the common "
                         f"ones agree)")
    if a["chosen"] != b["chosen"]:
        lines.append(f"IPC {ipc}: the chosen configurations differ: {_short(a['chosen'])} vs {_short(b['chosen'])}")
    for name in sorted(set(a["test"]) | set(b["test"])):
        if a["test"].get(name) != b["test"].get(name):
            lines.append(f"IPC {ipc}: the first test row that differs is {name}: {_short(a['test'].get(name))} vs "
                         f"{_short(b['test'].get(name))}")
            break
    return lines


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."
