"""Content-addressed keys and atomic writes: the two file habits every cache of dd_tune shares.

A key is the SHA-256 of a canonical JSON rendering (sorted keys) of everything a result depends on,
optionally with raw tensor bytes; a write goes to a temporary file in the same directory and is renamed
into place, so a concurrent reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)
