"""What a study produced, typed: the interface between the Ray side (``dd_tune.tune``) and the reports.

The renderers take these objects; ``to_dict()`` is the plain data of ``report.json`` / ``ipc<N>.json``
(it keeps the keys earlier versions wrote), and ``from_dict()`` reads it back (a resumed study, a
resumed suite, ``dd_tune.load_results``). Only the records room spells the fields as strings.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from dd_tune.records.accuracy import Reeval, SetAccuracy
from dd_tune.records.confirmation import Confirmation
from dd_tune.records.difference import RowDifference
from dd_tune.records.fidelity import Fidelity
from dd_tune.records.ipc_timing import IpcTiming
from dd_tune.records.lr_choice import LrRows, lr_rows_from_json
from dd_tune.records.trial import TrialRecord


@dataclass(frozen=True)
class IpcResult:
    """One IPC of a study: the search, the re-evaluated sets and what it cost."""

    ipc: int  # the IPC re-evaluated (the best trial's when IPC is searched)
    n_trials: int
    n_errors: int
    n_diverged: int
    errors: dict[str, str]  # trial -> why it failed
    best_val_acc: float
    best_config: dict[str, Any]
    default_config: dict[str, Any]
    named_configs: dict[str, dict[str, Any]]
    reeval: Reeval  # set -> architecture -> its accuracy in the test pass
    differences: list[RowDifference]
    config_notes: dict[str, list[str]]
    flops: dict[str, Any]
    best_synset: str
    best_png: str
    trials: list[TrialRecord]
    plots: dict[str, Any]
    compute: dict[str, float]
    wall_time_s: float
    # the best trial's set at iteration 0 and at every report: {iteration: png path} (progress figures)
    progress: dict[str, str] = field(default_factory=dict)
    # each class's share of the test split: an imbalanced one (MHIST) gets balanced accuracy and the
    # majority-class rate in its report
    test_class_shares: list[float] = field(default_factory=list)
    # wall seconds of the search and of the final re-evaluation, the trial slots, the IPC's wall time:
    # with the trials' own timings, the report's "where the time went" table
    timing: IpcTiming | None = None
    # the finalists re-measured on the validation split (None in reports written before the confirmation)
    confirmation: Confirmation | None = None
    # the proxy's fidelity: Kendall's tau (proxy vs confirmation, confirmation vs test) and regrets
    fidelity: Fidelity | None = None
    # rows with the evaluation lr chosen on validation: set -> arch -> its row
    lr_protocol: LrRows = field(default_factory=dict)
    # each main row's title: its levers and the images per class its evaluation trains on
    titles: dict[str, str] = field(default_factory=dict)
    # where the evaluation jobs ran: stage -> "device, GPU share on node" -> jobs ("cache": read back)
    job_places: dict[str, dict[str, int]] = field(default_factory=dict)
    # Ray nodes that died while a stage ran (its trials resumed, its jobs ran again elsewhere): stage -> nodes
    nodes_lost: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["trials"] = [t.to_json() for t in self.trials]
        d["differences"] = [x.to_json() for x in self.differences]
        d["confirmation"] = self.confirmation.to_json() if self.confirmation else {}
        d["timing"] = self.timing.to_json() if self.timing else {}
        d["fidelity"] = self.fidelity.to_json() if self.fidelity else {}
        d["lr_protocol"] = {name: {arch: row.to_json() for arch, row in by_arch.items()}
                            for name, by_arch in self.lr_protocol.items()}
        d["reeval"] = {name: {arch: dataclasses.asdict(e) for arch, e in accs.items()}
                       for name, accs in self.reeval.items()}
        return copy.deepcopy(d)  # plain data, sharing nothing with the record

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IpcResult":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["trials"] = [TrialRecord.from_json(t) for t in values.get("trials") or []]
        values["differences"] = [RowDifference.from_json(x) for x in values.get("differences") or []]
        values["confirmation"] = Confirmation.from_json(values.get("confirmation") or {})
        values["timing"] = IpcTiming.from_json(values.get("timing") or {})
        values["fidelity"] = Fidelity.from_json(values.get("fidelity") or {})
        values["lr_protocol"] = lr_rows_from_json(values.get("lr_protocol"))
        if "reeval" in values:
            values["reeval"] = {name: {arch: SetAccuracy.from_dict(e) for arch, e in accs.items()}
                                for name, accs in values["reeval"].items()}
        return cls(**values)


@dataclass(frozen=True)
class StudyResult:
    """A whole study: one :class:`IpcResult` per IPC, the expert stage, the protocol, where it lives."""

    study: str
    method: str
    dataset: str
    profile: str
    seed: int
    ipc: int | list[int]
    search_space: dict[str, Any]
    reference_defaults: dict[str, Any]
    by_ipc: dict[str, IpcResult]
    wall_time_s: float
    expert_stage: dict[str, Any]
    protocol: str
    final_eval: dict[str, Any]
    proxy_eval: dict[str, Any]
    resources: dict[str, Any]
    study_dir: str
    optuna_db: str
    method_notes: list[str] = field(default_factory=list)
    # Ray's overhead on a trial (dd_tune.search.overhead): {iterations, in_process_s, ray_s, ray_reused_s,
    # seconds} or
    # {iterations, error}; {} when the study did not measure it (search.overhead_probe: false)
    overhead_probe: dict[str, Any] = field(default_factory=dict)
    # hashes of the inputs and of the outcome (dd_tune.report.fingerprint); {} in reports of earlier versions
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> IpcResult:
        return next(iter(self.by_ipc.values()))

    def to_dict(self) -> dict[str, Any]:
        """``report.json``: the fields, plus the first IPC's headline keys at the top level."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["by_ipc"] = {k: v.to_dict() for k, v in self.by_ipc.items()}
        first = d["by_ipc"][next(iter(self.by_ipc))]
        return {**d, **{k: first[k] for k in ("n_trials", "best_config", "default_config", "reeval", "flops")}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudyResult":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["by_ipc"] = {k: IpcResult.from_dict(v) for k, v in d["by_ipc"].items()}
        return cls(**values)
