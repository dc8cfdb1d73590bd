"""What a study produced, typed: the interface between the Ray side (``dd_tune.tune``) and the reports.

The renderers take these objects; ``to_dict()`` is the plain data of ``report.json`` / ``ipc<N>.json``
(it keeps the keys earlier versions wrote), and ``from_dict()`` reads it back (a resumed study, a
resumed suite, ``dd_tune.load_results``). Only the records room spells the fields as strings.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from dd_tune.records.accuracy import Reeval, SetAccuracy
from dd_tune.records.confirmation import Confirmation
from dd_tune.records.costs import ExpertStage, FlopCount, OverheadProbe
from dd_tune.records.difference import RowDifference
from dd_tune.records.document import Document
from dd_tune.records.fidelity import Fidelity
from dd_tune.records.ipc_timing import IpcTiming
from dd_tune.records.lr_choice import LrRows, lr_rows_from_json
from dd_tune.records.plots import SearchPlots
from dd_tune.records.provenance import Fingerprint, SearchedParam, search_space_from_json
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
    best_config: Document
    default_config: Document
    named_configs: dict[str, Document]
    reeval: Reeval  # set -> architecture -> its accuracy in the test pass
    differences: list[RowDifference]
    config_notes: dict[str, list[str]]
    flops: FlopCount
    best_synset: str
    best_png: str
    trials: list[TrialRecord]
    plots: SearchPlots
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
        return {f.name: _field_json(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IpcResult":
        return cls(**_read(cls, d, _IPC_READERS))


@dataclass(frozen=True)
class StudyResult:
    """A whole study: one :class:`IpcResult` per IPC, the expert stage, the protocol, where it lives."""

    study: str
    method: str
    dataset: str
    profile: str
    seed: int
    ipc: int | list[int]
    search_space: dict[str, SearchedParam]
    reference_defaults: Document
    by_ipc: dict[str, IpcResult]
    wall_time_s: float
    expert_stage: ExpertStage | None
    protocol: str
    final_eval: Document
    proxy_eval: Document
    resources: Document
    study_dir: str
    optuna_db: str
    method_notes: list[str] = field(default_factory=list)
    # Ray's overhead on a trial (dd_tune.search.overhead); None when the study did not measure it
    overhead_probe: OverheadProbe | None = None
    # hashes of the inputs and of the outcome (dd_tune.report.fingerprint); None in reports of earlier versions
    fingerprint: Fingerprint | None = None

    @property
    def first(self) -> IpcResult:
        return next(iter(self.by_ipc.values()))

    def to_dict(self) -> dict[str, Any]:
        """``report.json``: the fields, plus the first IPC's headline keys at the top level."""
        d = {f.name: _field_json(self, f.name) for f in dataclasses.fields(self)}
        first = d["by_ipc"][next(iter(self.by_ipc))]
        return {**d, **{k: first[k] for k in ("n_trials", "best_config", "default_config", "reeval", "flops")}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StudyResult":
        return cls(**_read(cls, d, _STUDY_READERS))


def plain(value: object) -> Any:
    """A field as JSON data: a record by its own ``to_json`` layout, a SetAccuracy by its fields, containers
    item by item; a copy that shares nothing with the record."""
    if isinstance(value, (IpcResult, StudyResult)):
        return value.to_dict()
    if hasattr(value, "to_json"):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return copy.deepcopy(value)


# records that a study may not have: written as {} (as report.json always has), read back as None
_ABSENT_AS_EMPTY = ("confirmation", "fidelity", "timing", "expert_stage", "overhead_probe", "fingerprint")


def _field_json(record: object, name: str) -> Any:
    value = getattr(record, name)
    return {} if value is None and name in _ABSENT_AS_EMPTY else plain(value)


def _read(cls: type, d: Mapping[str, Any], readers: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """The fields of ``cls`` found in ``d``, each record read by its reader (``{}``/missing: the default)."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in d.items() if k in names}
    for name, read in readers.items():
        if name in values:
            values[name] = read(values[name] if values[name] is not None else {})
    return values


def _reeval(d: Mapping[str, Any]) -> Reeval:
    return {name: {arch: SetAccuracy.from_dict(e) for arch, e in accs.items()} for name, accs in d.items()}


_IPC_READERS: dict[str, Callable[[Any], Any]] = {
    "trials": lambda v: [TrialRecord.from_json(t) for t in v or []],
    "differences": lambda v: [RowDifference.from_json(x) for x in v or []],
    "confirmation": Confirmation.from_json, "timing": IpcTiming.from_json, "fidelity": Fidelity.from_json,
    "lr_protocol": lr_rows_from_json, "reeval": _reeval, "flops": FlopCount.from_json,
    "plots": SearchPlots.from_json}
_STUDY_READERS: dict[str, Callable[[Any], Any]] = {
    "by_ipc": lambda v: {k: IpcResult.from_dict(x) for k, x in v.items()},
    "search_space": search_space_from_json, "expert_stage": ExpertStage.from_json,
    "overhead_probe": OverheadProbe.from_json, "fingerprint": Fingerprint.from_json}
