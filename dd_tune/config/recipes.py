"""``distill_by_ipc``, a method's per-IPC configurations in a study file, normalised (pure: no torch)."""

from __future__ import annotations

from typing import Any, Mapping

from dd_tune.config.schema import require


def ipc_recipes(by_ipc: Mapping[Any, Any]) -> dict[int, dict[str, Any]]:
    """``distill_by_ipc`` with integer IPCs (``--set distill_by_ipc.1.lr_y=5`` and a JSON round trip give
    strings) and flat dotted keys; the experts and the preset stay one per study."""
    out: dict[int, dict[str, Any]] = {}
    for ipc, values in by_ipc.items():
        key = int(ipc) if isinstance(ipc, str) and ipc.isdigit() else ipc
        require(isinstance(key, int) and not isinstance(key, bool) and key >= 1, "distill_by_ipc",
                f"keys are IPCs (integers >= 1), got {ipc!r}")
        require(isinstance(values, Mapping), f"distill_by_ipc.{ipc}", "must be a mapping of distill keys")
        flat = flatten_dotted(values)
        for name in flat:
            require(name != "preset" and not name.startswith("experts"), f"distill_by_ipc.{ipc}.{name}",
                    "the preset and the experts are one per study (the expert stage trains them once for every IPC)")
        out[key] = {**out.get(key, {}), **flat}
    return out


def flatten_dotted(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (an empty mapping stays a value)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping) and v:
            out.update(flatten_dotted(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
