"""What a study ran from and what it searched, typed: the hashes of its inputs and of its outcome, and the
search space as it ran. JSON: report.json's ``fingerprint`` and ``search_space`` blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from dd_tune.records.document import JsonScalar, JsonValue, optional_number

INPUT_PARTS = ("config", "code", "data", "libraries")  # what the inputs hash is made of, in this order


@dataclass(frozen=True)
class Fingerprint:
    """Hashes of the configuration, the package's code and the data files, the library versions, the hash
    of them all (``inputs``), and the hash of the outcome (trials, choice, test rows; None until known)."""

    config: str
    code: str
    data: str
    libraries: dict[str, str] = field(default_factory=dict)
    inputs: str = ""
    outcome: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"config": self.config, "code": self.code, "data": self.data,
                                     "libraries": dict(self.libraries), "inputs": self.inputs}
        return out if self.outcome is None else {**out, "outcome": self.outcome}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "Fingerprint | None":
        """None in reports written before dd_tune fingerprinted studies (``{}``)."""
        if not d:
            return None
        libraries = d.get("libraries")
        outcome = d.get("outcome")
        return cls(str(d.get("config", "")), str(d.get("code", "")), str(d.get("data", "")),
                   {str(k): str(v) for k, v in libraries.items()} if isinstance(libraries, Mapping) else {},
                   str(d.get("inputs", "")), None if outcome is None else str(outcome))


@dataclass(frozen=True)
class SearchedParam:
    """One searched hyperparameter as the study ran it (Optuna's vocabulary): a float or int range (log
    scale, step) or a list of choices."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[JsonScalar, ...] = ()

    def to_json(self) -> dict[str, JsonValue]:
        """Only what is set (``type`` always), as the search-space files write it."""
        out: dict[str, JsonValue] = {"type": self.type}
        for key, value in (("low", self.low), ("high", self.high), ("log", self.log), ("step", self.step)):
            if value not in (None, False):
                out[key] = value
        return {**out, "choices": list(self.choices)} if self.choices else out

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> "SearchedParam":
        kind = d.get("type")
        choices = d.get("choices")
        return cls(kind if kind in ("float", "int", "categorical") else "categorical",
                   optional_number(d.get("low")), optional_number(d.get("high")), bool(d.get("log")),
                   optional_number(d.get("step")),
                   tuple(c for c in choices if c is None or isinstance(c, (bool, int, float, str)))
                   if isinstance(choices, list) else ())


def search_space_from_json(d: object) -> dict[str, SearchedParam]:
    if not isinstance(d, Mapping):
        return {}
    return {str(k): SearchedParam.from_json(v) for k, v in d.items() if isinstance(v, Mapping)}
