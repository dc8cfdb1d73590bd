"""A comparison suite: studies compared under one protocol (pure configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dd_tune.base.errors import ConfigError
from dd_tune.config.files import find_file, list_names
from dd_tune.config.schema import build, load_yaml, require
from dd_tune.config.study import apply_profile, plain_name_problem

ARCHS = ("convnet", "lenet")


@dataclass(frozen=True)
class ReportRow:
    """One result of an earlier report, set beside what dd_tune measures at its setting and tuned.

    ``study``/``set``: the study of the suite and the re-evaluated set that runs the report's setting (a
    named point, or ``default``); ``tuned_study``: whose tuned set answers it (default ``study``);
    ``setting``: the report's values of the keys that define its run (checked against what ran, so a
    scaled-down profile says so). ``set: full_data`` is the suite's full-training-set reference; a row
    without ``study`` is not measured by this suite (``elsewhere`` says which command measures it).
    """

    title: str
    reported: float
    arch: str = "convnet"
    study: str = ""
    set: str = ""
    tuned_study: str = ""
    setting: dict[str, Any] = field(default_factory=dict)
    elsewhere: str = ""
    note: str = ""  # what a reader should know about the reported number itself (context, caveats)

    def __post_init__(self) -> None:
        require(self.arch in ARCHS, "arch", f"unknown architecture {self.arch!r}; choose from {list(ARCHS)}")
        require(0 <= self.reported <= 100, "reported", f"must be an accuracy in [0, 100], got {self.reported}")
        require(bool(self.study) == bool(self.set) or self.set == "full_data", "set",
                "name both the study and its set (or neither, with 'elsewhere')")
        require(bool(self.study or self.set) or bool(self.elsewhere), "elsewhere",
                "a row measured by no study of the suite must say where it is measured")


@dataclass(frozen=True)
class FullDataConfig:
    """The full-training-set reference: ConvNet trained on every training image (minus the validation
    split) with the evaluation protocol's optimiser for ``epochs`` epochs, ``models`` times."""

    epochs: int = 0  # 0: not run
    models: int = 1
    max_images: int = 0  # >0: a fixed random subset of the training split (smoke tests); 0 = all of it

    def __post_init__(self) -> None:
        require(self.epochs >= 0, "epochs", f"must be >= 0, got {self.epochs}")
        require(self.max_images >= 0, "max_images", f"must be >= 0, got {self.max_images}")
        require(self.models >= 1, "models", f"must be >= 1, got {self.models}")


@dataclass(frozen=True)
class SuiteConfig:
    """Studies compared under one protocol; ``shared`` keys are set on every study (same budget)."""

    name: str
    studies: tuple[str, ...]
    description: str = ""
    ipc: tuple[int, ...] = ()  # IPCs every study runs (empty: each study's own, which must agree)
    num_samples: int = 0  # trials per IPC for every study (0: each study's own)
    study_num_samples: dict[str, int] = field(default_factory=dict)  # a study's own trials, over num_samples
    init_variants: tuple[str, ...] = ("real", "noise")
    shared: dict[str, Any] = field(default_factory=dict)  # study keys set on every study (dotted ok)
    # an earlier report's results, each beside dd_tune at its setting and tuned (compare.md opens with them)
    report_rows: tuple[ReportRow, ...] = ()
    report_name: str = "the report"
    report_protocol: str = ""  # how the report evaluated (said beside dd_tune's protocol)
    # (real-init study, noise-only study) pairs: tuned from real vs tuned from noise, curves and pictures
    noise_pairs: tuple[tuple[str, str], ...] = ()
    full_data: FullDataConfig = FullDataConfig()
    profile: str = "default"
    # studies of the suite file that this profile leaves out (``studies:`` in a profile): their report
    # rows stay in the table and say which profile measures them
    not_run: tuple[str, ...] = ()
    # the profile each study runs with (empty: the suite's own profile name); a suite profile that
    # re-uses the studies' quick budgets and changes a few keys says ``study_profile: quick``
    study_profile: str = ""
    # keys set on one study only (after ``shared``; dotted ok; ``named_points`` replaced whole)
    per_study: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = plain_name_problem(self.name)
        require(problem is None, "name", problem or "")
        require(len(self.studies) >= 1, "studies", "must list at least one study")
        require(len(set(self.studies)) == len(self.studies), "studies", "lists a study twice")
        require(self.num_samples >= 0, "num_samples", f"must be >= 0, got {self.num_samples}")
        for study, n in self.study_num_samples.items():
            require(study in self.studies, "study_num_samples",
                    f"names study {study!r}, which the suite does not run ({list(self.studies)})")
            require(isinstance(n, int) and n >= 1, "study_num_samples", f"{study}: must be an integer >= 1, got {n!r}")
        for row in self.report_rows:
            for study in (row.study, row.tuned_study):
                require(not study or study in self.studies or study in self.not_run, "report_rows",
                        f"row {row.title!r} names study {study!r}, which the suite does not run ({list(self.studies)})")
            require(row.set != "full_data" or self.full_data.epochs > 0, "report_rows",
                    f"row {row.title!r} needs the full-data reference: set full_data.epochs")
        for study, keys in self.per_study.items():
            require(study in self.studies, "per_study",
                    f"names study {study!r}, which the suite does not run ({list(self.studies)})")
            require(isinstance(keys, dict), "per_study", f"{study}: must be a mapping of study keys")
        for pair in self.noise_pairs:
            require(len(pair) == 2 and all(p in self.studies for p in pair), "noise_pairs",
                    f"each pair is [real-init study, noise-only study] of the suite, got {list(pair)}")

    def overrides(self, study: str = "") -> list[tuple[str, Any]]:
        """The ``--set``-style overrides that give ``study`` (every study, when empty) the suite's shared
        settings and its number of trials."""
        out = _flatten(self.shared)
        if self.ipc:
            out.append(("ipc", list(self.ipc)))
        trials = self.study_num_samples.get(study, self.num_samples)
        if trials:
            out.append(("search.num_samples", trials))
        return out + _flatten(self.per_study.get(study, {}))

    @property
    def member_profile(self) -> str:
        """The profile the suite's studies run with."""
        return self.study_profile or self.profile


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("named_points",):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def list_suites() -> list[str]:
    return list_names("suites")


def suite_profiles(name_or_path: str) -> list[str]:
    """The profiles a suite offers: ``default`` and those of its ``profiles:`` block."""
    raw = load_yaml(find_file("suites", name_or_path))
    return ["default", *sorted((raw.get("profiles") or {}) if isinstance(raw, dict) else {})]


def load_suite(name_or_path: str, profile: str = "default") -> SuiteConfig:
    path = find_file("suites", name_or_path)
    base = load_yaml(path)
    listed = list(base.get("studies") or []) if isinstance(base, dict) else []
    raw = apply_profile(base, profile, path)
    raw.setdefault("name", path.stem)
    raw["profile"] = profile
    runs = raw.get("studies")
    if isinstance(runs, list) and runs != listed:
        # a profile that runs a subset: what it leaves out is named, and what only concerned those studies
        # (their noise pairs, their number of trials) goes with them
        unknown = [s for s in runs if s not in listed]
        if unknown:
            raise ConfigError(f"{path}: profile {profile!r} runs {unknown}, which the suite does not list "
                              f"({listed}); a profile chooses among the suite's studies")
        raw["not_run"] = [s for s in listed if s not in runs]
        raw["noise_pairs"] = [p for p in raw.get("noise_pairs") or [] if all(s in runs for s in p)]
        for key in ("study_num_samples", "per_study"):
            raw[key] = {k: v for k, v in (raw.get(key) or {}).items() if k in runs}
    return build(SuiteConfig, raw, "", str(path))
