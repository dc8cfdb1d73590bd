"""Typed results for report tests: an IpcResult / StudyResult with neutral values for every field a test
does not care about, so a test names only what it checks (and a renamed field breaks it)."""

from __future__ import annotations

from typing import Any, Sequence

from dd_tune.records import (
    Confirmation,
    ExpertStage,
    Fidelity,
    Fingerprint,
    FlopCount,
    IpcResult,
    IpcTiming,
    OverheadProbe,
    RowDifference,
    SearchPlots,
    SetAccuracy,
    StudyResult,
    TrialRecord,
)
from dd_tune.records.lr_choice import lr_rows_from_json
from dd_tune.records.provenance import search_space_from_json

FLOPS = FlopCount(forward_per_image={"convnet": 10**6}, distillation_best=10**9, distillation_default=10**9,
                  evaluation_one_run={"convnet": 10**9})


def acc(runs: Sequence[float], lr: float | None = 0.01, **extra: Any) -> SetAccuracy:
    """One set on one architecture: fresh models as the unit (``lr_learned`` where ``lr`` is not 0.01)."""
    return SetAccuracy.of_runs(runs, lr=lr, lr_learned=lr is not None and lr != 0.01, **extra)


def trial(**row: Any) -> TrialRecord:
    """A trial record from its row as ipc<N>.json writes it (``val_acc``, ``it``, ...: the keys tests read)."""
    return TrialRecord.from_json(row)


def ipc_result(**fields: Any) -> IpcResult:
    """``trials``, ``differences``, ``confirmation``, ``fidelity``, ``lr_protocol`` and ``timing`` may be given
    as ipc<N>.json writes them (plain JSON); they become records as a stored report's do."""
    if "trials" in fields:
        fields["trials"] = [t if isinstance(t, TrialRecord) else TrialRecord.from_json(t) for t in fields["trials"]]
    if "differences" in fields:
        fields["differences"] = [d if isinstance(d, RowDifference) else RowDifference.from_json(d)
                                 for d in fields["differences"]]
    plain = {"confirmation": Confirmation.from_json, "fidelity": Fidelity.from_json, "timing": IpcTiming.from_json,
             "lr_protocol": lr_rows_from_json, "flops": FlopCount.from_json, "plots": SearchPlots.from_json}
    for key, read in plain.items():
        if isinstance(fields.get(key), dict):
            fields[key] = read(fields[key])
    values: dict[str, Any] = dict(
        ipc=1, n_trials=1, n_errors=0, n_diverged=0, errors={}, best_val_acc=float("nan"), best_config={},
        default_config={}, named_configs={}, reeval={}, differences=[], config_notes={}, flops=FLOPS,
        best_synset="/s/best/synset.pt", best_png="/s/best/synset.png", trials=[], plots=SearchPlots(), compute={},
        wall_time_s=1.0)
    return IpcResult(**{**values, **fields})


def study_result(by_ipc: dict[str, IpcResult] | None = None, **fields: Any) -> StudyResult:
    values: dict[str, Any] = dict(
        study="x", method="dm", dataset="mnist", profile="quick", seed=0, ipc=1, search_space={},
        reference_defaults={}, by_ipc=by_ipc if by_ipc is not None else {"1": ipc_result()}, wall_time_s=1.0,
        expert_stage=None, protocol="p", final_eval={}, proxy_eval={}, resources={}, study_dir="/s",
        optuna_db="/s/optuna.db")
    plain = {"expert_stage": ExpertStage.from_json, "overhead_probe": OverheadProbe.from_json,
             "fingerprint": Fingerprint.from_json, "search_space": search_space_from_json}
    for key, read in plain.items():
        if isinstance(fields.get(key), dict):
            fields[key] = read(fields[key])
    return StudyResult(**{**values, **fields})
