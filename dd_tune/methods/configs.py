"""A method's configuration: presets resolved, validated against the method's dataclass.

``load_study`` is the whole study as it will run: the configuration room reads and checks the file
(``dd_tune.config.read_study``), then the method named in it validates its ``distill`` block here.
Presets (``PRESETS`` of a method's config) and the method's budget keys (``BUDGET_KEYS``) are the
method's own knowledge; this module only applies the rule that combines them with a study's deviations.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from dd_tune.base.errors import ConfigError
from dd_tune.config import StudyConfig, build, deep_merge, read_study, set_dotted, to_dict
from dd_tune.core.datasets import DATASETS
from dd_tune.core.models import max_convnet_depth
from dd_tune.methods.base import METHODS
from dd_tune.methods.pixel import with_study_network

_MISSING = object()


def config_class(method: str) -> type:
    return METHODS.get(method).config_cls


def _lookup(block: Mapping[str, Any], dotted: str) -> Any:
    """``block["a"]["b"]`` for ``"a.b"``, or ``_MISSING``."""
    node: Any = block
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def resolve_method_values(method: str, block: Mapping[str, Any], values: Mapping[str, Any],
                          source: str) -> dict[str, Any]:
    """A distill block with ``values`` (dotted keys) applied, presets resolved. Later wins:

    1. the preset ``block`` names (or the method's default preset);
    2. ``block``'s own keys (a study file's deliberate deviations from its preset: its budget, its
       dataset's scaling such as PAD's halved expert epochs on MNIST);
    3. when ``values`` switch to another preset: the keys on which the two presets differ (what makes
       the other method that method: MTT's hard labels, DATM's lack of a scheduler), except the budget
       keys (``BUDGET_KEYS``) the block sets; the study's other deviations stay;
    4. ``values`` (``--set distill.*``, a named point, a trial's sampled values).
    """
    cls = config_class(method)
    presets: Mapping[str, Mapping[str, Any]] = getattr(cls, "PRESETS", {})
    out = dict(block)
    if presets:
        have = block.get("preset", _default_preset(cls))
        want = values.get("preset", have)
        for name in (have, want):
            if name not in presets:
                raise ConfigError(f"{source}: unknown preset 'distill.preset: {name}' for method {method!r}; "
                                  f"choose from {sorted(presets)}")
        out = deep_merge(presets[have], block)
        budget = set(getattr(cls, "BUDGET_KEYS", ()))  # a study's budget stays even where presets differ
        for key, value in preset_identity(presets[have], presets[want]).items():
            if key not in budget or _lookup(block, key) is _MISSING:
                out = set_dotted(out, key, value, source)
    for key, value in values.items():  # dotted keys reach nested configs (experts.schedule.init_ratio)
        out = set_dotted(out, key, value, source)
    return out


def preset_identity(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys on which preset ``new`` differs from ``old``, with ``new``'s values."""
    out: dict[str, Any] = {}
    for key in new:
        dotted = f"{prefix}{key}"
        if isinstance(new[key], Mapping) and isinstance(old.get(key), Mapping):
            out.update(preset_identity(old[key], new[key], f"{dotted}."))
        elif old.get(key, _MISSING) != new[key]:
            out[dotted] = new[key]
    return out


def build_method_config(method: str, data: Mapping[str, Any], source: str) -> Any:
    """Validate a ``distill:`` block as written in a study file against the method's config dataclass."""
    return build(config_class(method), resolve_method_values(method, data, {}, source), "distill", source)


def _with_values(method: str, distill: Any, values: Mapping[str, Any], source: str) -> Any:
    return build(config_class(method), resolve_method_values(method, to_dict(distill), values, source),
                 "distill", source)


def with_method_values(study: StudyConfig, values: Mapping[str, Any], source: str) -> Any:
    """The study's distill config with ``values`` (e.g. a trial's sampled params) applied, validated."""
    return _with_values(study.method, study.distill, values, source)


def load_study(name_or_path: str, profile: str = "default",
               overrides: Sequence[tuple[str, Any]] = ()) -> StudyConfig:
    """The study as it will run: file + profile + ``--set``, its method block validated (presets
    resolved), its named points and init variants checked against the method."""
    try:
        f = read_study(name_or_path, profile, overrides)
    except ConfigError as e:
        raise ConfigError(_with_method_key_hint(str(e), overrides)) from None
    study = f.study
    if _switches_preset(study, f.distill_sets) and not study.search.widen_to_defaults:
        # the study's search space was written for its own preset: it grows to hold the new defaults
        study = dataclasses.replace(study, search=dataclasses.replace(study.search, widen_to_defaults=True))
    check_depth(study, "model.depth", study.model.depth, f.source)
    check_zca(study, f.source)
    distill: Any = build(config_class(study.method), resolve_method_values(study.method, study.distill,
                                                                      f.distill_sets, f.source), "distill", f.source)
    distill = with_study_network(distill, study.model)
    check_network(study, distill, f.source)
    for name, values in study.named_points.items():
        _with_values(study.method, distill, values, f"{f.source} (named_points.{name})")
    if study.init_variants and not hasattr(distill, "init"):
        raise ConfigError(f"{f.source}: 'init_variants' needs a method with an 'init' key; {study.method} has none")
    for value in study.init_variants:
        _with_values(study.method, distill, {"init": value}, f"{f.source} (init_variants)")
    return dataclasses.replace(study, distill=distill, distill_by_ipc=_ipc_recipes(study, distill, f.distill_sets,
                                                                                    f.source))


def _ipc_recipes(study: StudyConfig, distill: Any, distill_sets: Mapping[str, Any],
                 source: str) -> dict[int, dict[str, Any]]:
    """``distill_by_ipc`` as it applies: a ``--set distill.*`` key wins at every IPC, and a preset switch
    drops the recipes (they were written for the study's own preset). The config of every IPC the study
    runs is validated; the other entries wait (a profile's short experts may not fit IPC 50's window)."""
    if _switches_preset(study, distill_sets):
        return {}
    out = {}
    for ipc, values in study.distill_by_ipc.items():
        kept = {k: v for k, v in values.items() if k not in distill_sets}
        if ipc in study.ipc:
            at = _with_values(study.method, distill, kept, f"{source} (distill_by_ipc.{ipc})")
            check_network(study, at, source)
        out[ipc] = kept
    return out


def study_at(study: StudyConfig, ipc: int) -> StudyConfig:
    """The study as it runs at ``ipc``: its ``distill_by_ipc`` entry applied to ``distill`` (the reference
    defaults, and the values every trial starts from, follow the IPC)."""
    values = study.distill_by_ipc.get(ipc)
    if not values:
        return study
    return dataclasses.replace(study, distill=with_method_values(study, values, f"distill_by_ipc.{ipc}"))


def _with_method_key_hint(message: str, overrides: Sequence[tuple[str, Any]]) -> str:
    """``message`` with `` (did you mean 'distill.lr_img'?)`` after the key when a ``--set`` key the study
    refused as unknown is a key of some method's ``distill`` block (``--set lr_img=2``)."""
    for key, _ in overrides:
        unknown = f"unknown key '{key}'"
        if "." not in key and unknown in message and "did you mean" not in message:
            if any(key in {f.name for f in dataclasses.fields(config_class(m))} for m in METHODS.names()):
                return message.replace(unknown, f"{unknown} (did you mean 'distill.{key}'?)", 1)
    return message


def _default_preset(cls: type) -> str:
    return str(next(f.default for f in dataclasses.fields(cls) if f.name == "preset"))


def _switches_preset(study: StudyConfig, distill_sets: Mapping[str, Any]) -> bool:
    cls = config_class(study.method)
    if not getattr(cls, "PRESETS", None) or "preset" not in distill_sets:
        return False
    return bool(distill_sets["preset"] != study.distill.get("preset", _default_preset(cls)))


def check_depth(study: StudyConfig, key: str, depth: int, source: str) -> None:
    """A ConvNet depth whose poolings leave at least one pixel of the study's images."""
    spec = DATASETS.get(study.dataset)
    if study.model.name == "convnet" and depth > max_convnet_depth(spec.channels, spec.size):
        raise ConfigError(f"{source}: '{key}' {depth} pools {study.dataset}'s {spec.size[0]}x{spec.size[1]} "
                          f"images to nothing; at most {max_convnet_depth(spec.channels, spec.size)} fits")


ZCA_MAX_VALUES = 3 * 64 * 64  # pixel values per image ZCA may whiten: a 12 288² covariance is 1.2 GB in float64


def check_zca(study: StudyConfig, source: str) -> None:
    """ZCA fits a covariance over every pixel value of an image: small images only."""
    spec = DATASETS.get(study.dataset)
    values = spec.channels * spec.size[0] * spec.size[1]
    if study.data.zca and values > ZCA_MAX_VALUES:
        raise ConfigError(f"{source}: 'data.zca' whitens with a D x D covariance over the D = {values:,} pixel values "
                          f"of a {study.dataset} image ({8 * values ** 2 / 2 ** 30:,.0f} GiB); only images of at "
                          f"most {ZCA_MAX_VALUES:,} values (64x64x3) can be whitened: set data.zca false")


def check_network(study: StudyConfig, cfg: Any, source: str) -> None:
    """A configuration's distillation network fits the study's images (``net_depth``)."""
    if hasattr(cfg, "net_depth"):
        check_depth(study, "distill.net_depth", cfg.net_depth, source)
