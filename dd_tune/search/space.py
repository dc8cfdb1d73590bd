"""Search spaces in Optuna's own vocabulary, checked against the method's config before Ray starts.

``search_spaces/<name>.yaml``::

    method: dm
    params:
      lr_img: {type: float, low: 0.1, high: 10.0, log: true}
      batch_real: {type: categorical, choices: [64, 128, 256]}

Keys must be fields of the method's config (or ``ipc``); bounds and choices must themselves be valid
values of those fields. A study may replace single keys (``search.params``) or drop them
(``search.exclude``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

from dd_tune.base.errors import ConfigError
from dd_tune.config import StudyConfig, build, find_file, get_dotted, load_yaml, require, to_dict
from dd_tune.methods.configs import check_network, study_at, with_method_values
from dd_tune.records import SearchedParam

Scalar = Any


@dataclass(frozen=True)
class ParamSpec:
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type == "categorical":
            require(len(self.choices) >= 1, "choices", "must list at least one value")
            require(self.low is None and self.high is None, "type",
                    "categorical parameters take 'choices', not 'low'/'high'")
            return
        require(self.low is not None and self.high is not None, "low", "numeric parameters need low and high")
        low, high = self.bounds
        require(math.isfinite(low) and math.isfinite(high), "low",
                f"bounds must be finite numbers, got low={low} high={high}")
        require(low < high, "low", f"must be < high, got low={low} high={high}")
        require(not self.log or low > 0, "low", "must be > 0 with log: true")
        require(not (self.log and self.step is not None), "step", "cannot be combined with log: true")
        step = self.step
        require(step is None or (math.isfinite(step) and step > 0), "step", f"must be a finite number > 0, got {step}")
        require(step is None or step <= high - low, "step", f"must not exceed high - low = {high - low}, got {step}")
        if self.type == "int":
            require(step is None or float(step).is_integer(), "step",
                    f"int parameters need a whole-number step, got {step}")
            require(float(low).is_integer() and float(high).is_integer(), "low",
                    "int parameters need whole-number bounds")

    @property
    def bounds(self) -> tuple[float, float]:
        """(low, high) of a numeric parameter; ``__post_init__`` makes sure both are set."""
        if self.low is None or self.high is None:
            raise ConfigError(f"a {self.type} parameter has no bounds (low={self.low}, high={self.high})")
        return self.low, self.high

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        low, high = self.bounds
        return bool(low <= value <= high)

    def describe(self) -> str:
        if self.type == "categorical":
            return f"one of {list(self.choices)}"
        return f"[{self.low}, {self.high}]" + (" (log)" if self.log else "")


SearchSpace = dict[str, ParamSpec]


@dataclass(frozen=True)
class _SpaceFile:
    method: str
    params: dict[str, Any]
    description: str = ""


def load_search_space(study: StudyConfig) -> SearchSpace:
    """The study's search space: the space file, the study's replacements, minus excluded keys."""
    path = find_file("search_spaces", study.search.space)
    raw = build(_SpaceFile, load_yaml(path), "", str(path))
    if raw.method != study.method:
        raise ConfigError(f"{path}: search space is for method {raw.method!r}, study uses {study.method!r}")
    merged = {**raw.params, **study.search.params}
    for key, entry in study.search.params.items():
        # an entry without a type changes some fields of the space's own (`--set search.params.lr_img.high=100`);
        # an entry with a type replaces it whole
        if isinstance(entry, dict) and "type" not in entry and isinstance(raw.params.get(key), dict):
            merged[key] = {**raw.params[key], **entry}
    for key in study.search.exclude:
        if key in study.search.params:
            raise ConfigError(f"search.params: {key!r} is excluded from the search (search.exclude) and given a "
                              f"range at once; drop it from one of them")
        if key not in merged:
            raise ConfigError(f"search.exclude: {key!r} is not in the search space; choose from {sorted(merged)}")
        merged.pop(key)
    space: SearchSpace = {}
    for key, spec in merged.items():
        source = f"{path} / study {study.name}"
        space[key] = build(ParamSpec, spec, f"params.{key}", source)
        if study.search.widen_to_defaults:
            space[key] = widened(space[key], study, key)
        _check_against_config(study, key, space[key], source)
    return space


def widened(spec: ParamSpec, study: StudyConfig, key: str) -> ParamSpec:
    """``spec`` grown to hold the study's default of ``key`` (every IPC's, for ``ipc``): a categorical
    gains the value, a range extends its bound (``search.widen_to_defaults``)."""
    values = list(study.ipc) if key == "ipc" else [get_dotted(study_at(study, i).distill, key) for i in study.ipc]
    for value in values:
        if spec.contains(value) or value is None and spec.type != "categorical":
            continue
        if spec.type == "categorical":
            spec = dataclasses.replace(spec, choices=(*spec.choices, value))
        else:
            spec = dataclasses.replace(spec, low=min(spec.bounds[0], value), high=max(spec.bounds[1], value))
    return spec


def _check_against_config(study: StudyConfig, key: str, spec: ParamSpec, source: str) -> None:
    fields = {f.name for f in dataclasses.fields(study.distill)}
    if key != "ipc" and key.split(".")[0] not in fields:
        raise ConfigError(
            f"{source}: unknown search key {key!r} for method {study.method!r}; "
            f"choose from {sorted(fields | {'ipc'})}"
        )
    values = list(spec.choices) if spec.type == "categorical" else list(spec.bounds)
    if spec.type == "int":
        values = [int(v) for v in values]
    for value in values:
        if key == "ipc":
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{source}: 'params.ipc' values must be integers >= 1, got {value!r}")
            continue
        try:
            check_network(study, with_method_values(study, {key: value}, source), source)
        except ConfigError as e:
            raise ConfigError(f"search space value {value!r} for {key!r} is invalid: {e}") from None


def to_optuna(space: SearchSpace) -> dict[str, Any]:
    """ParamSpec -> optuna distributions (for ``OptunaSearch(space=...)``)."""
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for key, s in space.items():
        if s.type == "float":
            out[key] = od.FloatDistribution(float(s.bounds[0]), float(s.bounds[1]), log=s.log, step=s.step)
        elif s.type == "int":
            out[key] = od.IntDistribution(int(s.bounds[0]), int(s.bounds[1]), log=s.log, step=int(s.step or 1))
        else:
            out[key] = od.CategoricalDistribution(list(s.choices))
    return out


def default_point(study: StudyConfig, space: SearchSpace, ipc: int) -> dict[str, Any]:
    """The method's reference defaults (as configured by the study) for every searched key.

    Optuna evaluates this point first, so the report can say how much tuning improved on it. A
    default outside the space is a configuration error rather than a silently clipped value.
    """
    point: dict[str, Any] = {}
    for key, spec in space.items():
        value = ipc if key == "ipc" else get_dotted(study_at(study, ipc).distill, key)
        if not spec.contains(value):
            raise ConfigError(
                f"study {study.name}: the default {key}={value!r} lies outside the search space "
                f"{spec.describe()}; widen the space or set distill.{key}"
            )
        point[key] = value
    return point


def max_iterations(study: StudyConfig, space: SearchSpace) -> int:
    """The longest trial the space allows (ASHA's max_t)."""
    if "iterations" in space:
        return int(space["iterations"].bounds[1])
    return int(study.distill.iterations)


def searched_params(space: SearchSpace) -> dict[str, SearchedParam]:
    """The space as the study's record keeps it (the same fields, without the config's validation)."""
    return {k: SearchedParam(v.type, v.low, v.high, v.log, v.step, tuple(v.choices)) for k, v in space.items()}


def space_as_dict(space: SearchSpace) -> dict[str, dict[str, Any]]:
    return {k: {kk: vv for kk, vv in to_dict(v).items() if vv not in (None, (), [], False) or kk == "type"}
            for k, v in space.items()}


def expert_variants(space: SearchSpace) -> list[dict[str, Any]]:
    """Every combination of the searched ``experts.*`` values (each needs its own expert pool).

    They must be categorical: the study trains all expert pools before the trials start.
    """
    keys = sorted(k for k in space if k.startswith("experts."))
    for k in keys:
        if space[k].type != "categorical":
            raise ConfigError(f"search key {k!r} changes the expert trajectories and must be categorical "
                              f"(the study trains every expert pool before the trials); got {space[k].describe()}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(space[k].choices for k in keys))]
