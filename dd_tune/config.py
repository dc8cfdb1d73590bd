"""Typed, frozen study configuration and the strict loader for ``studies/*.yaml``.

A study file holds the base configuration plus ``profiles:`` — named override blocks (``quick``,
``smoke``) merged on top of the base. ``--set a.b=value`` overrides are applied last and go through
the same validation as the file.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, Union

from dd_tune.errors import ConfigError
from dd_tune.store import NAME_RE, NAME_RULE
from dd_tune.schema import FieldError, build, deep_merge, load_yaml, parse_scalar, require, set_dotted, to_dict

# Repository layout: studies/ and search_spaces/ live next to the package (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent
STUDIES_DIR = Path(os.environ.get("DD_TUNE_STUDIES", REPO_ROOT / "studies"))
SEARCH_SPACES_DIR = Path(os.environ.get("DD_TUNE_SEARCH_SPACES", REPO_ROOT / "search_spaces"))


SEED_LIMIT = 2**32  # numpy's and most samplers' seed range; torch would take more, Optuna's TPE does not


@dataclass(frozen=True)
class ModelConfig:
    """Network used for distillation (and, with ``name``, for proxy evaluation)."""

    name: Literal["convnet", "lenet"] = "convnet"
    depth: int = 3  # ConvNet-3 is the DC/DM/DataDAM/PAD default backbone
    width: int = 128
    norm: Literal["instance", "batch", "none"] = "instance"  # instance = GroupNorm(C, C), as in DC
    pooling: Literal["avg", "max"] = "avg"

    def __post_init__(self) -> None:
        require(1 <= self.depth <= 8, "depth", f"must be in [1, 8], got {self.depth}")
        require(self.width >= 1, "width", f"must be >= 1, got {self.width}")


@dataclass(frozen=True)
class DataConfig:
    """How the training set is split; the test set is only touched by the final re-evaluation."""

    val_fraction: float = 0.1  # stratified, carved from the training set, used for all tuning
    split_seed: int = 0  # fixed across trials so every trial is judged on the same images
    # >0: keep only this many training images per class (after the split), for smoke tests and quick
    # CPU looks at methods that train on the whole set (PAD's experts); 0 = all.
    max_train_per_class: int = 0

    def __post_init__(self) -> None:
        require(0.0 < self.val_fraction < 0.5, "val_fraction",
                f"must be in (0, 0.5), got {self.val_fraction}")
        require(0 <= self.split_seed < SEED_LIMIT, "split_seed", f"must be in [0, 2^32), got {self.split_seed}")
        require(self.max_train_per_class >= 0, "max_train_per_class", "must be >= 0")


@dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol (methods.md §1.4): SGD momentum 0.9, wd 5e-4, lr x0.1 at half, DSA."""

    epochs: int = 1000
    models: int = 5  # fresh randomly initialised networks per architecture
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa: bool = True
    archs: tuple[Literal["convnet", "lenet"], ...] = ("convnet", "lenet")
    max_eval_images: int = 0  # 0 = all; >0 caps the held-out images (proxy evaluation only)
    # independent random-real sets at the same IPC (final evaluation): one draw moves by several
    # points at IPC 1, as much as many tuned-vs-default gaps
    random_real_draws: int = 5

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.random_real_draws >= 1, "random_real_draws", f"must be >= 1, got {self.random_real_draws}")
        require(self.models >= 1, "models", f"must be >= 1, got {self.models}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(len(self.archs) >= 1, "archs", "must name at least one architecture")
        require(self.max_eval_images >= 0, "max_eval_images", "must be >= 0")


@dataclass(frozen=True)
class AshaConfig:
    """ASHA on distillation progress; ``grace_period`` counts reports (evaluation points)."""

    enabled: bool = True
    grace_period: int = 2
    reduction_factor: int = 2

    def __post_init__(self) -> None:
        require(self.grace_period >= 1, "grace_period", "must be >= 1")
        require(self.reduction_factor >= 2, "reduction_factor", "must be >= 2")


@dataclass(frozen=True)
class SearchConfig:
    space: str  # name of search_spaces/<space>.yaml
    num_samples: int = 32
    max_concurrent_trials: int = 4
    report_every: int = 2000  # distillation iterations between proxy evaluations (reports)
    params: dict[str, Any] = field(default_factory=dict)  # per-key replacements of the space
    exclude: tuple[str, ...] = ()  # space keys not searched (they keep the distill value)
    asha: AshaConfig = AshaConfig()
    max_failures: int = 1  # retries of a crashed trial from its last checkpoint

    def __post_init__(self) -> None:
        require(self.num_samples >= 1, "num_samples", f"must be >= 1, got {self.num_samples}")
        require(self.max_concurrent_trials >= 1, "max_concurrent_trials", "must be >= 1")
        require(self.report_every >= 1, "report_every", "must be >= 1")
        require(self.max_failures >= 0, "max_failures", "must be >= 0")


@dataclass(frozen=True)
class ResourcesConfig:
    """Per-trial resources. ``gpu: auto`` uses ``auto_gpu_fraction`` where Ray sees GPUs, else CPU."""

    cpu: float = 1.0
    gpu: Union[Literal["auto"], float] = "auto"
    auto_gpu_fraction: float = 0.25  # DM/random-real are light: four trials share one GPU

    def __post_init__(self) -> None:
        require(self.cpu > 0, "cpu", f"must be > 0, got {self.cpu}")
        if self.gpu != "auto":
            require(0 <= self.gpu and (self.gpu <= 1 or float(self.gpu).is_integer()), "gpu",
                    f"must be 'auto', a fraction in [0, 1] or a whole number, got {self.gpu}")
        require(0 < self.auto_gpu_fraction <= 1, "auto_gpu_fraction", "must be in (0, 1]")


@dataclass(frozen=True)
class StudyConfig:
    """One study: a method on a dataset at one or more IPCs, searched and then re-evaluated."""

    name: str
    method: str
    dataset: str
    search: SearchConfig
    ipc: tuple[int, ...] = (10,)
    seed: int = 0
    description: str = ""
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    distill: Any = None  # the method's own frozen config dataclass, validated at load time
    proxy_eval: EvalConfig = EvalConfig(epochs=300, models=2, archs=("convnet",))
    final_eval: EvalConfig = EvalConfig()
    resources: ResourcesConfig = ResourcesConfig()
    # Named configurations distilled and re-evaluated beside best/default (e.g. the settings a
    # report got wrong), each a set of distill keys; validated like the distill block.
    named_points: dict[str, Any] = field(default_factory=dict)
    # Re-distil the tuned configuration with each of these ``init`` values (noise vs real init at
    # the tuned hyperparameters) and re-evaluate it as ``best_init_<value>``.
    init_variants: tuple[str, ...] = ()
    profile: str = "default"

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and NAME_RE.fullmatch(self.name) is not None, "name",
                f"{self.name!r} is not a plain name (it becomes a directory): use {NAME_RULE}")
        require(0 <= self.seed < SEED_LIMIT, "seed", f"must be in [0, 2^32), got {self.seed}")
        require(len(self.ipc) >= 1, "ipc", "must list at least one IPC")
        for v in self.ipc:
            require(v >= 1, "ipc", f"images per class must be >= 1, got {v}")
        require(len(set(self.ipc)) == len(self.ipc), "ipc", f"duplicate IPCs in {list(self.ipc)}")


def list_studies(directory: Path = STUDIES_DIR) -> list[str]:
    return sorted(p.stem for p in Path(directory).glob("*.yaml"))


def find_study(name_or_path: str, directory: Path = STUDIES_DIR) -> Path:
    """A study name (``dm_mnist``) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path.resolve()
    candidate = Path(directory) / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate.resolve()
    raise ConfigError(f"unknown study {name_or_path!r}; choose from {list_studies(directory)}")


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``["a.b=1", "c=x"]`` -> ``[("a.b", 1), ("c", "x")]`` with YAML-typed values."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set: expected key=value, got {item!r}")
        out.append((key.strip(), parse_scalar(value)))
    return out


def apply_profile(raw: dict, profile: str, path: Path) -> dict:
    """``raw`` (a study or suite file) with its ``profiles.<profile>`` block merged in."""
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, Mapping) or not all(isinstance(v, Mapping) for v in profiles.values()):
        raise ConfigError(f"{path}: 'profiles' must be a mapping of profile name -> mapping of overrides")
    if profile == "default":
        return raw
    if profile not in profiles:
        raise ConfigError(f"{path}: unknown profile {profile!r}; choose from {['default', *sorted(profiles)]}")
    return deep_merge(raw, profiles[profile])


def load_study(
    name_or_path: str,
    profile: str = "default",
    overrides: Sequence[tuple[str, Any]] = (),
) -> StudyConfig:
    """Load, merge the profile and overrides, and validate a study (including its distill block).

    The ``distill`` block (base, then the profile's) is written for the preset it names; ``--set
    distill.*`` keys are applied last through :func:`resolve_method_values`, so ``--set
    distill.preset=mtt`` gives MTT's values for every key the preset defines and any other
    ``--set distill.*`` key still wins.
    """
    path = find_study(name_or_path)
    raw = load_yaml(path)
    raw = apply_profile(raw, profile, path)
    source = str(path)
    distill_sets: dict[str, Any] = {}
    for key, value in overrides:
        source = f"{path} (with --set)"
        if key == "distill":
            raise ConfigError(f"--set distill={value!r}: set single keys of the method's config, "
                              f"e.g. --set distill.lr_img=2")
        if key.startswith("distill."):
            distill_sets[key[len("distill."):]] = value
        else:
            raw = set_dotted(raw, key, value, "--set")
    raw.setdefault("name", path.stem)
    raw["profile"] = profile
    distill_raw = raw.pop("distill", {}) or {}
    if not isinstance(distill_raw, Mapping):
        raise ConfigError(f"{source}: 'distill' must be a mapping of the method's keys")
    study = build(StudyConfig, raw, "", source)
    distill = build(_method_config_cls(study.method),
                    resolve_method_values(study.method, distill_raw, distill_sets, source), "distill", source)
    for name, values in study.named_points.items():
        if name in ("best", "default") or name.startswith("random_real") or not isinstance(values, Mapping):
            raise ConfigError(f"{source}: 'named_points.{name}' must be a mapping of distill keys and "
                              f"not be called best, default or random_real*")
        _with_values(study.method, distill, values, f"{source} (named_points.{name})")
    if study.init_variants and not hasattr(distill, "init"):
        raise ConfigError(f"{source}: 'init_variants' needs a method with an 'init' key; {study.method} has none")
    for value in study.init_variants:
        _with_values(study.method, distill, {"init": value}, f"{source} (init_variants)")
    return dataclasses.replace(study, distill=distill)


def _method_config_cls(method: str) -> type:
    from dd_tune.methods import METHODS  # local import: methods pull in torch

    return METHODS.get(method).config_cls


def resolve_method_values(method: str, block: Mapping, values: Mapping[str, Any], source: str) -> dict:
    """A distill block with ``values`` (dotted keys) applied, presets resolved. Later wins:

    1. the preset ``block`` names (or the method's default preset);
    2. ``block``'s own keys (a study file's deliberate deviations from its preset);
    3. when ``values`` switch to another preset: every key that preset defines, except the budget
       keys (``BUDGET_KEYS``, e.g. ``iterations``) that ``block`` sets explicitly;
    4. ``values`` (``--set distill.*``, a named point, a trial's sampled values).
    """
    cls = _method_config_cls(method)
    presets: Mapping[str, Mapping] = getattr(cls, "PRESETS", {})
    out = dict(block)
    if presets:
        default = next(f.default for f in dataclasses.fields(cls) if f.name == "preset")
        have = block.get("preset", default)
        want = values.get("preset", have)
        for name in (have, want):
            if name not in presets:
                raise ConfigError(f"{source}: unknown preset 'distill.preset: {name}' for method {method!r}; "
                                  f"choose from {sorted(presets)}")
        out = deep_merge(presets[have], block)
        if want != have:  # the new preset replaces every key it defines; the block's budget stays
            out = deep_merge(out, presets[want])
            for key in getattr(cls, "BUDGET_KEYS", ()):
                value = _lookup(block, key)
                if value is not _MISSING:
                    out = set_dotted(out, key, value, source)
    for key, value in values.items():  # dotted keys reach nested configs (experts.schedule.init_ratio)
        out = set_dotted(out, key, value, source)
    return out


_MISSING = object()


def _lookup(block: Mapping, dotted: str) -> Any:
    """``block["a"]["b"]`` for ``"a.b"``, or ``_MISSING``."""
    node: Any = block
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def build_method_config(method: str, data: Mapping, source: str) -> Any:
    """Validate a ``distill:`` block as written in a study file against the method's config dataclass."""
    return build(_method_config_cls(method), resolve_method_values(method, data, {}, source), "distill", source)


def _with_values(method: str, distill: Any, values: Mapping[str, Any], source: str) -> Any:
    return build(_method_config_cls(method), resolve_method_values(method, to_dict(distill), values, source),
                 "distill", source)


def with_method_values(study: StudyConfig, values: Mapping[str, Any], source: str) -> Any:
    """The study's distill config with ``values`` (e.g. a trial's sampled params) applied, validated."""
    return _with_values(study.method, study.distill, values, source)


def get_dotted(obj: Any, dotted: str) -> Any:
    """``get_dotted(cfg, "experts.schedule.init_ratio")``."""
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


__all__ = [
    "AshaConfig", "ConfigError", "DataConfig", "EvalConfig", "FieldError", "ModelConfig",
    "ResourcesConfig", "SearchConfig", "StudyConfig", "find_study", "list_studies", "load_study",
    "parse_overrides", "with_method_values",
]
