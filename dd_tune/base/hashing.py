"""Content-addressed keys: every cache of dd_tune (experts, difficulty scores, final evaluations) is keyed by
the SHA-256 of a canonical JSON rendering (sorted keys) of everything its result depends on, optionally with
raw tensor bytes.
"""

from __future__ import annotations

import hashlib
import json
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
