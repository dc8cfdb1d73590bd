"""A comparison suite: studies compared under one protocol (pure configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dd_tune.config.files import find_file, list_names
from dd_tune.config.schema import build, load_yaml, require
from dd_tune.config.study import NAME_RE, NAME_RULE, apply_profile


@dataclass(frozen=True)
class SuiteConfig:
    """Studies compared under one protocol; ``shared`` keys are set on every study (same budget)."""

    name: str
    studies: tuple[str, ...]
    description: str = ""
    ipc: tuple[int, ...] = ()  # IPCs every study runs (empty: each study's own, which must agree)
    num_samples: int = 0  # trials per IPC for every study (0: each study's own)
    init_variants: tuple[str, ...] = ("real", "noise")
    shared: dict[str, Any] = field(default_factory=dict)  # study keys set on every study (dotted ok)
    profile: str = "default"

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and NAME_RE.fullmatch(self.name) is not None, "name",
                f"{self.name!r} is not a plain name (it becomes a directory): use {NAME_RULE}")
        require(len(self.studies) >= 1, "studies", "must list at least one study")
        require(len(set(self.studies)) == len(self.studies), "studies", "lists a study twice")
        require(self.num_samples >= 0, "num_samples", f"must be >= 0, got {self.num_samples}")

    def overrides(self) -> list[tuple[str, Any]]:
        """The ``--set``-style overrides that give every study of the suite the shared settings."""
        out = _flatten(self.shared)
        if self.ipc:
            out.append(("ipc", list(self.ipc)))
        if self.num_samples:
            out.append(("search.num_samples", self.num_samples))
        return out


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


def load_suite(name_or_path: str, profile: str = "default") -> SuiteConfig:
    path = find_file("suites", name_or_path)
    raw = apply_profile(load_yaml(path), profile, path)
    raw.setdefault("name", path.stem)
    raw["profile"] = profile
    return build(SuiteConfig, raw, "", str(path))
