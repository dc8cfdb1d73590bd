"""Content-addressed keys: every cache of dd_tune (experts, difficulty scores, final evaluations) is keyed by
the SHA-256 of a canonical JSON rendering (sorted keys) of everything its result depends on, optionally with
raw tensor bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import torch


def content_key(blob: Any, tensors: Iterable[torch.Tensor] = (), length: int = 24) -> str:
    """Hex key of ``blob`` (JSON-able) and the dtype/shape/bytes of ``tensors``."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes())
    h.update(json.dumps(blob, sort_keys=True, default=str).encode())
    return h.hexdigest()[:length]


def content_int(blob: Any, bits: int = 48) -> int:
    """A stable integer for ``blob`` (e.g. a trial's config), from the same hash."""
    return int(content_key(blob, length=bits // 4), 16)


def package_digest() -> str:
    """The code of the dd_tune package: a hash of every module's path and bytes (a study's fingerprint says
    whether two runs ran the same code, whatever the version string)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def library_versions() -> dict[str, str]:
    """The versions of the libraries a study's numbers depend on."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy", "ray", "optuna"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions
