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
from dd_tune.schema import FieldError, build, deep_merge, load_yaml, parse_scalar, require, set_dotted, to_dict

# Repository layout: studies/ and search_spaces/ live next to the package (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent
STUDIES_DIR = Path(os.environ.get("DD_TUNE_STUDIES", REPO_ROOT / "studies"))
SEARCH_SPACES_DIR = Path(os.environ.get("DD_TUNE_SEARCH_SPACES", REPO_ROOT / "search_spaces"))


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

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
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


def load_study(
    name_or_path: str,
    profile: str = "default",
    overrides: Sequence[tuple[str, Any]] = (),
) -> StudyConfig:
    """Load, merge the profile and overrides, and validate a study (including its distill block)."""
    path = find_study(name_or_path)
    raw = load_yaml(path)
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, Mapping):
        raise ConfigError(f"{path}: 'profiles' must be a mapping of name -> overrides")
    if profile != "default":
        if profile not in profiles:
            raise ConfigError(
                f"{path}: unknown profile {profile!r}; choose from {['default', *sorted(profiles)]}"
            )
        raw = deep_merge(raw, profiles[profile])
    source = str(path)
    for key, value in overrides:
        raw = set_dotted(raw, key, value, "--set")
        source = f"{path} (with --set)"
    raw.setdefault("name", path.stem)
    raw["profile"] = profile
    distill_raw = raw.pop("distill", {}) or {}
    study = build(StudyConfig, raw, "", source)
    distill = build_method_config(study.method, distill_raw, source)
    for name, values in study.named_points.items():
        if name in ("best", "default", "random_real") or not isinstance(values, Mapping):
            raise ConfigError(f"{source}: 'named_points.{name}' must be a mapping of distill keys and "
                              f"not be called best, default or random_real")
        build_method_config(study.method, {**to_dict(distill), **values}, f"{source} (named_points.{name})")
    if study.init_variants and not hasattr(distill, "init"):
        raise ConfigError(f"{source}: 'init_variants' needs a method with an 'init' key; {study.method} has none")
    for value in study.init_variants:
        build_method_config(study.method, {**to_dict(distill), "init": value}, f"{source} (init_variants)")
    return dataclasses.replace(study, distill=distill)


def build_method_config(method: str, data: Mapping, source: str) -> Any:
    """Validate a ``distill:`` block against the method's config dataclass."""
    from dd_tune.methods import METHODS  # local import: methods pull in torch

    spec = METHODS.get(method)
    presets = getattr(spec.config_cls, "PRESETS", {})
    if "preset" in data and presets:
        name = data["preset"]
        if name not in presets:
            raise ConfigError(f"{source}: unknown preset 'distill.preset: {name}' for method {method!r}; "
                              f"choose from {sorted(presets)}")
        data = deep_merge(presets[name], data)  # explicit keys win over the preset's values
    return build(spec.config_cls, data, "distill", source)


def with_method_values(study: StudyConfig, values: Mapping[str, Any], source: str) -> Any:
    """The study's distill config with ``values`` (e.g. a trial's sampled params) applied, validated."""
    merged = to_dict(study.distill)
    for key, value in values.items():  # dotted keys reach nested configs (experts.schedule.init_ratio)
        merged = set_dotted(merged, key, value, source)
    return build_method_config(study.method, merged, source)


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
