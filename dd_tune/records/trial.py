"""One trial of a search, typed: what the report lists, the curves draw and the time table sums.

:meth:`TrialRecord.to_json` writes the row under the keys ``ipc<N>.json`` and ``report.json`` have always
used (the trial-report keys of :mod:`dd_tune.base.keys`), and :meth:`TrialRecord.from_json` reads back
rows of every earlier version (a missing key takes its neutral value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from dd_tune.base.keys import (
    DEVICE,
    DISTILL_S,
    DIVERGED,
    ELAPSED_S,
    ENDED_AT,
    EVAL_S,
    GPU_SHARE,
    ITERATION,
    METRIC,
    NODE,
    RESUMED_FROM,
    SETUP_S,
    TRIAL_S,
    trial_label,
)
from dd_tune.config import dotted_value
from dd_tune.records.document import (
    Document,
    JsonValue,
    document,
    integer,
    number,
    optional_integer,
    optional_number,
    optional_text,
)

# the JSON keys of a trial row that base.keys does not name (they are not keys of a trial's report)
_TRIAL, _OPTUNA, _CONFIG, _NODE_ID, _FAILURES, _LOST_S, _ERROR, _HISTORY, _TIMING, _COUNTERS = (
    "trial", "optuna", "config", "node", "failures", "lost_s", "error", "history", "timing", "counters")


@dataclass(frozen=True)
class TrialTiming:
    """Where one trial's time went, summed over its reports (a retried trial's repeated work too): set-up,
    distillation and proxy evaluation timed inside the trial, and ``trial_s``, Ray's wall time of the
    trainable (checkpoints and reporting included)."""

    setup_s: float
    distill_s: float
    eval_s: float
    trial_s: float

    @property
    def work_s(self) -> float:
        """The work a trial times itself: what the same trial costs without Ray."""
        return self.setup_s + self.distill_s + self.eval_s

    @classmethod
    def total(cls, timings: "Iterable[TrialTiming]") -> "TrialTiming":
        """The timings of several trials added up, field by field."""
        out = cls(0.0, 0.0, 0.0, 0.0)
        for t in timings:
            out = cls(out.setup_s + t.setup_s, out.distill_s + t.distill_s, out.eval_s + t.eval_s,
                      out.trial_s + t.trial_s)
        return out

    def to_json(self) -> dict[str, JsonValue]:
        return {SETUP_S: self.setup_s, DISTILL_S: self.distill_s, EVAL_S: self.eval_s, TRIAL_S: self.trial_s}

    @classmethod
    def from_json(cls, d: object) -> "TrialTiming | None":
        """None for a row without timings (``{}``, or a report written before dd_tune recorded them)."""
        if not isinstance(d, Mapping) or not d:
            return None
        return cls(number(d.get(SETUP_S)), number(d.get(DISTILL_S)), number(d.get(EVAL_S)), number(d.get(TRIAL_S)))


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its name (``t03``) and Optuna number, its configuration, its last report (proxy accuracy,
    iteration, divergence), where it ran, how often it was restarted and what that lost, why it failed,
    its accuracy-vs-iteration history, when it ended, where its time went, a method's own counters."""

    trial: str
    config: Document = field(default_factory=dict)
    val_acc: float | None = None
    iteration: int | None = None
    diverged: int = 0
    optuna: int | None = None
    node_id: str | None = None
    resumed_from: int | None = None
    device: str | None = None
    gpu_share: float | None = None
    node_address: str | None = None
    failures: int = 0
    lost_s: float = 0.0
    elapsed_s: float | None = None
    error: str | None = None
    history: tuple[tuple[int, float], ...] = ()
    ended_at: float | None = None  # wall clock of its last report: when its slot freed
    timing: TrialTiming | None = None
    counters: dict[str, float] = field(default_factory=dict)  # PAD's skipped updates and the like

    @property
    def label(self) -> str:
        """``t03`` (its Optuna number); the folder name for rows of versions that did not record it."""
        return trial_label(self.optuna) if self.optuna is not None else self.trial

    def is_defaults_of(self, defaults: Mapping[str, object]) -> bool:
        """Whether this trial ran the reference defaults: each of its searched values is the defaults'
        (nested keys such as ``selection.embedding`` looked up in the nested defaults)."""
        return bool(self.config) and all(dotted_value(defaults, k) == v for k, v in self.config.items())

    @property
    def scored(self) -> bool:
        """A trial that did not fail and reported an accuracy."""
        return self.error is None and self.val_acc is not None

    def to_json(self) -> dict[str, JsonValue]:
        return {_TRIAL: self.trial, _CONFIG: self.config, METRIC: self.val_acc, ITERATION: self.iteration,
                DIVERGED: self.diverged, _NODE_ID: self.node_id, RESUMED_FROM: self.resumed_from,
                DEVICE: self.device, GPU_SHARE: self.gpu_share, NODE: self.node_address, _FAILURES: self.failures,
                _LOST_S: self.lost_s, ELAPSED_S: self.elapsed_s, _ERROR: self.error,
                _HISTORY: [[i, a] for i, a in self.history], ENDED_AT: self.ended_at,
                _TIMING: self.timing.to_json() if self.timing else {},
                _COUNTERS: dict(self.counters), _OPTUNA: self.optuna}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "TrialRecord":
        history = d.get(_HISTORY)
        counters = d.get(_COUNTERS)
        return cls(
            trial=str(d.get(_TRIAL, "")), config=document(d.get(_CONFIG)), val_acc=optional_number(d.get(METRIC)),
            iteration=optional_integer(d.get(ITERATION)), diverged=integer(d.get(DIVERGED)),
            optuna=optional_integer(d.get(_OPTUNA)), node_id=optional_text(d.get(_NODE_ID)),
            resumed_from=optional_integer(d.get(RESUMED_FROM)), device=optional_text(d.get(DEVICE)),
            gpu_share=optional_number(d.get(GPU_SHARE)), node_address=optional_text(d.get(NODE)),
            failures=integer(d.get(_FAILURES)), lost_s=number(d.get(_LOST_S)),
            elapsed_s=optional_number(d.get(ELAPSED_S)), error=optional_text(d.get(_ERROR)) or None,
            history=tuple((int(i), float(a)) for i, a in history) if isinstance(history, list) else (),
            ended_at=optional_number(d.get(ENDED_AT)), timing=TrialTiming.from_json(d.get(_TIMING)),
            counters={str(k): number(v) for k, v in counters.items()} if isinstance(counters, Mapping) else {})
