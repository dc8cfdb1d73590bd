"""The study configuration: typed, frozen dataclasses, checked field by field (pure: no torch).

A study file holds the base configuration plus ``profiles:`` — named override blocks (``quick``,
``smoke``) merged on top of the base. ``--set a.b=value`` overrides are applied last and go through
the same validation as the file. The ``distill`` block stays a plain mapping here: the method it
names validates it (``dd_tune.methods.configs``), so this room never imports a method (or torch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from dd_tune.base.errors import ConfigError, did_you_mean
from dd_tune.base.keys import BEST, DEFAULT, RANDOM_REAL
from dd_tune.config.files import find_study
from dd_tune.config.recipes import ipc_recipes
from dd_tune.config.resources import ResourcesConfig
from dd_tune.config.schema import build, deep_merge, load_yaml, parse_scalar, require, set_dotted
from dd_tune.config.search import SearchConfig

# a study or suite name becomes a directory name under --storage: only plain names
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_RULE = "1-100 characters from letters, digits, '.', '_' and '-', starting with a letter or digit"
# the folders a storage shares between its studies (expert trajectories, the evaluation cache): a study
# or suite so named would write into them, and --force on it would delete them
EXPERTS_DIR, REEVAL_DIR = "experts", "reeval"
RESERVED_NAMES = (EXPERTS_DIR, REEVAL_DIR)
Arch = Literal["convnet", "lenet"]  # the architectures a set is tested on


def plain_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a study or suite directory, or None."""
    if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
        return f"{name!r} is not a plain name (it becomes a directory): use {NAME_RULE}"
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is reserved: a storage keeps its shared {list(RESERVED_NAMES)} folders under that name"
    return None
SEED_LIMIT = 2**32  # numpy's and most samplers' seed range; torch would take more, Optuna's TPE does not


@dataclass(frozen=True)
class ModelConfig:
    """Network used for distillation (and, with ``name``, for proxy evaluation)."""

    name: Arch = "convnet"
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
    # ZCA whitening (MTT, DATM and PAD on CIFAR): every split whitened with the transform fitted on the
    # training split in [0, 1] instead of mean/std normalisation; experts, distillation, random real and
    # evaluation all see whitened images, pictures are un-whitened (dd_tune.core.zca)
    zca: bool = False

    def __post_init__(self) -> None:
        require(0.0 < self.val_fraction < 0.5, "val_fraction",
                f"must be in (0, 0.5), got {self.val_fraction}")
        require(0 <= self.split_seed < SEED_LIMIT, "split_seed", f"must be in [0, 2^32), got {self.split_seed}")
        require(self.max_train_per_class >= 0, "max_train_per_class", "must be >= 0")


@dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol (docs/methods.md §1.4): SGD momentum 0.9, wd 5e-4, lr x0.1 at half, DSA."""

    epochs: int = 1000
    models: int = 5  # fresh randomly initialised networks per architecture
    lr: float = 0.01
    batch_size: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa: bool = True
    archs: tuple[Arch, ...] = ("convnet", "lenet")
    # 0 = all; >0 caps the held-out images at a fixed shuffle (the proxy's validation images; in the
    # final protocol, smoke profiles only: the report's protocol line then says it is not a result)
    max_eval_images: int = 0
    # independent random-real sets at the same IPC (final evaluation): one draw moves by several
    # points at IPC 1, as much as many tuned-vs-default gaps
    random_real_draws: int = 5
    # The evaluation's learning rate as a protocol dimension (DD-Ranking's grid, chosen honestly): each
    # row's lr is chosen on the validation split from this grid (``lr_select_models`` models per lr),
    # then tested beside the fixed-lr row. Empty: off.
    lr_grid: tuple[float, ...] = ()
    lr_select_models: int = 2
    # dd_tune (the package's own) or dc (the DC/DSA/DM authors' evaluate_synset): dd_tune.core.protocols
    protocol: Literal["dd_tune", "dc"] = "dd_tune"

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        require(self.random_real_draws >= 1, "random_real_draws", f"must be >= 1, got {self.random_real_draws}")
        require(self.models >= 1, "models", f"must be >= 1, got {self.models}")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(0 <= self.momentum < 1, "momentum", f"must be in [0, 1), got {self.momentum}")
        require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        require(len(self.archs) >= 1, "archs", "must name at least one architecture")
        require(len(set(self.archs)) == len(self.archs), "archs", f"names an architecture twice: {list(self.archs)}")
        require(self.max_eval_images >= 0, "max_eval_images", "must be >= 0")
        require(all(v > 0 for v in self.lr_grid), "lr_grid", f"learning rates must be > 0, got {list(self.lr_grid)}")
        require(len(set(self.lr_grid)) == len(self.lr_grid), "lr_grid", f"lists a value twice: {list(self.lr_grid)}")
        require(self.lr_select_models >= 1, "lr_select_models", f"must be >= 1, got {self.lr_select_models}")


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
    distill: Any = None  # a mapping as read; the method's frozen config once methods.configs loads it
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
    # A method's published per-IPC configurations: ``distill`` keys that take other values at one IPC (PAD's
    # IPC-1 and IPC-50 configurations differ from its IPC-10 one). At that IPC they win over ``distill``;
    # a trial's sampled values, a named point and ``--set distill.*`` win over them.
    distill_by_ipc: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = plain_name_problem(self.name)
        require(problem is None, "name", problem or "")
        require(0 <= self.seed < SEED_LIMIT, "seed", f"must be in [0, 2^32), got {self.seed}")
        require(len(self.ipc) >= 1, "ipc", "must list at least one IPC")
        for v in self.ipc:
            require(v >= 1, "ipc", f"images per class must be >= 1, got {v}")
        require(len(set(self.ipc)) == len(self.ipc), "ipc", f"duplicate IPCs in {list(self.ipc)}")
        object.__setattr__(self, "distill_by_ipc", ipc_recipes(self.distill_by_ipc))
        confirm = self.search.confirm
        require(confirm.top_k == 0 or confirm.models > self.proxy_eval.models, "search.confirm.models",
                f"must be more than the proxy's {self.proxy_eval.models} models (the confirmation re-measures "
                f"the finalists with more fresh models), got {confirm.models}")


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``["a.b=1", "c=x"]`` -> ``[("a.b", 1), ("c", "x")]`` with YAML-typed values."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set: expected key=value, got {item!r}")
        out.append((key.strip(), parse_scalar(value)))
    return out


def apply_profile(raw: dict[str, Any], profile: str, path: Path) -> dict[str, Any]:
    """``raw`` (a study or suite file) with its ``profiles.<profile>`` block merged in."""
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, Mapping) or not all(isinstance(v, Mapping) for v in profiles.values()):
        raise ConfigError(f"{path}: 'profiles' must be a mapping of profile name -> mapping of overrides")
    if profile == "default":
        return raw
    if profile not in profiles:
        names = ["default", *sorted(profiles)]
        raise ConfigError(f"{path}: unknown profile {profile!r}{did_you_mean(profile, names)}; choose from {names}")
    return deep_merge(raw, profiles[profile])


# keys an extending file replaces whole instead of merging: its own named points, and each searched
# parameter's spec (an int range turned categorical must not keep the parent's low/high)
_REPLACED = ("named_points",)


def _extend(base: Mapping[str, Any], child: Mapping[str, Any], under: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        whole = key in _REPLACED or under == "params"
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and not whole:
            out[key] = _extend(out[key], value, key)
        else:
            out[key] = value
    return out


def load_study_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A study file's mapping with ``extends: <study>`` resolved.

    The named study (a name on the search path, or a path relative to this file) is read first and
    this file merged over it, profiles included: mappings merge key by key, while ``named_points`` and
    each entry of ``search.params`` are replaced whole. The parent's ``name`` and ``description`` are
    not inherited. A study can thus be a variant of another (e.g. the noise-only search of a method)
    without copying its protocol.
    """
    raw = load_yaml(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: 'extends' must name one study (a name or a path to its .yaml)")
    relative = (path.parent / parent).resolve()
    parent_path = relative if relative.suffix in (".yaml", ".yml") and relative.is_file() else find_study(parent)
    if parent_path in (path, *seen):
        chain = " -> ".join(p.stem for p in (*seen, path, parent_path))
        raise ConfigError(f"{path}: 'extends' makes a cycle ({chain})")
    base = load_study_file(parent_path, (*seen, path))
    for key in ("name", "description"):
        base.pop(key, None)
    return _extend(base, raw)


def study_profiles(name_or_path: str) -> list[str]:
    """The profiles a study offers: ``default`` and those of its ``profiles:`` block (inherited too)."""
    return ["default", *sorted(load_study_file(find_study(name_or_path)).get("profiles") or {})]


@dataclass(frozen=True)
class StudyFile:
    """A study as read from its file, before its method validates the ``distill`` block."""

    study: StudyConfig  # ``distill`` is the raw mapping (base + profile)
    distill_sets: dict[str, Any]  # the ``--set distill.*`` keys, dotted, applied last
    source: str  # the file (and "with --set") for error messages


def read_study(name_or_path: str, profile: str = "default",
               overrides: Sequence[tuple[str, Any]] = ()) -> StudyFile:
    """Find, merge the profile and ``--set`` overrides, and check everything but the method block."""
    path = find_study(name_or_path)
    raw = apply_profile(load_study_file(path), profile, path)
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
    study = build(StudyConfig, {**raw, "distill": dict(distill_raw)}, "", source)
    for name, values in study.named_points.items():
        if NAME_RE.fullmatch(str(name)) is None:  # it names a report row, a TensorBoard tag, a table cell
            raise ConfigError(f"{source}: named point {ascii(name)} is not a plain name: use {NAME_RULE}")
        if name in (BEST, DEFAULT) or name.startswith(RANDOM_REAL) or not isinstance(values, Mapping):
            raise ConfigError(f"{source}: 'named_points.{name}' must be a mapping of distill keys and "
                              f"not be called best, default or random_real*")
    return StudyFile(study, distill_sets, source)


def get_dotted(obj: Any, dotted: str) -> Any:
    """``get_dotted(cfg, "experts.schedule.init_ratio")``."""
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def dotted_value(data: Mapping[str, Any], dotted: str) -> Any:
    """``data["selection"]["embedding"]`` for the flattened key ``selection.embedding`` (a search space's
    names); None where it is not set."""
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
