"""The records room: what a study produced, as frozen typed records, and the statistics that summarise
a row. Every stage returns one of these; every renderer reads them. The JSON layout of ``report.json``
and ``ipc<N>.json`` is spelled here and nowhere else. No torch, no Ray, no rendering.

Its face names the records; a module that needs several imports them from here.
"""

from dd_tune.records.accuracy import Reeval, SetAccuracy
from dd_tune.records.confirmation import Confirmation, Finalist
from dd_tune.records.costs import ExpertFlops, ExpertStage, FlopCount, OverheadProbe
from dd_tune.records.difference import Difference, RowDifference
from dd_tune.records.document import Document, JsonValue
from dd_tune.records.fidelity import Fidelity, PooledTau, Tau
from dd_tune.records.ipc_timing import IpcTiming
from dd_tune.records.lr_choice import LrChoice, LrRow, LrRows
from dd_tune.records.plots import ParetoPoint, SearchPlots
from dd_tune.records.provenance import Fingerprint, SearchedParam
from dd_tune.records.set_id import SetId
from dd_tune.records.study import IpcResult, StudyResult
from dd_tune.records.trial import TrialRecord, TrialTiming

__all__ = ["Confirmation", "Difference", "Document", "ExpertFlops", "ExpertStage", "Fidelity", "Finalist",
           "Fingerprint", "FlopCount", "IpcResult", "IpcTiming", "JsonValue", "LrChoice", "LrRow", "LrRows",
           "OverheadProbe", "ParetoPoint", "PooledTau", "Reeval", "RowDifference", "SearchPlots", "SearchedParam",
           "SetAccuracy", "SetId", "StudyResult", "Tau", "TrialRecord", "TrialTiming"]
