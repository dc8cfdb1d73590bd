"""CIFAR-10/100's unpacked python batches (torchvision's on-disk layout), read without torchvision.

torchvision checks each batch's MD5 before reading it; dd_tune leaves the MD5 to the download (the
archive is checked when torchvision fetches and unpacks it) and checks what it read by content instead
(``datasets.validate_split``: split sizes, labels, every class, pixel statistics), which also catches a
truncated or foreign file. So any copy in this layout loads, generated test data of CIFAR's size too.

The batches are pickles, and unpickling can run code: they are read with an unpickler that builds
nothing but numpy arrays, dicts, lists, strings and numbers (:class:`_ArraysOnly`), so a foreign file
in the folder fails to load instead of running.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dd_tune.base.errors import DataError

# the globals a CIFAR batch needs: numpy's array reconstruction (numpy 1's and 2's module names), its dtype
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode")}


MAX_BATCH_BYTES = 256 * 2**20  # a CIFAR-10 batch is 31 MiB, CIFAR-100's training file 155 MiB


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: a CIFAR batch holds only arrays")
        return super().find_class(module, name)


def cifar_arrays(folder: Path, names: list[str], offline_hint: str = "") -> tuple[np.ndarray, list[int]]:
    """The batches ``names`` of ``folder`` as uint8 images ``[N, 3, 32, 32]`` and their labels (CIFAR-100:
    the fine labels)."""
    images, labels = [], []
    for name in names:
        data, batch_labels = _read_batch(folder / name, offline_hint)
        images.append(data.reshape(-1, 3, 32, 32))
        labels.extend(batch_labels)
    return np.concatenate(images), labels


def _read_batch(path: Path, offline_hint: str) -> tuple[np.ndarray, list[int]]:
    """One pickled batch: ``data`` (uint8 [N, 3072]) and its N ``labels`` (or ``fine_labels``).

    Bounded before and after unpickling: the file's size first (the unpickler's work grows with it), then
    the types of what it built. Nothing is converted that is not already a uint8 array of CIFAR's width:
    a crafted file whose ``data`` is a list sharing references (tiny on disk, billions of elements once
    turned into an array) or a string is refused, not expanded."""
    fix = f"delete {path.parent} so that the archive is downloaded and unpacked again"
    if not path.is_file():
        raise DataError(f"{path} is missing: {fix}.{offline_hint}")
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise DataError(f"{path} holds {size / 2**20:.0f} MiB; a CIFAR batch holds about 30 MiB: {fix}")
    try:
        with open(path, "rb") as f:
            entry = _ArraysOnly(f, encoding="latin1").load()
    except Exception as e:  # noqa: BLE001 - truncated, foreign or not a pickle at all
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataError(f"{path} is not a readable CIFAR batch ({reason}): {fix}") from None
    if not isinstance(entry, dict) or "data" not in entry or not ({"labels", "fine_labels"} & entry.keys()):
        raise DataError(f"{path} is not a CIFAR batch (no data and labels in it): {fix}")
    data, labels = entry["data"], entry["labels"] if "labels" in entry else entry["fine_labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        what = f"a {data.dtype} array of shape {list(data.shape)}" if isinstance(data, np.ndarray) \
            else f"a {type(data).__name__}"
        raise DataError(f"{path} is not a CIFAR batch (its data is {what}, not uint8 [N, 3072]): {fix}")
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        labels = labels.tolist()
    if not isinstance(labels, list) or len(labels) != len(data) or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise DataError(f"{path} is not a CIFAR batch (its labels are not {len(data)} integers): {fix}")
    return data, labels
