"""MHIST (Wei et al., 2021): colorectal polyp patches, ``<root>/MHIST/annotations.csv`` + ``images/*.png``.
It needs a registration form, so it is never downloaded; a damaged copy is one DataError naming the file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from dd_tune.base.errors import DataError

MHIST_COLUMNS = ("Image Name", "Majority Vote Label", "Partition")
MHIST_CLASSES = {"HP": 0, "SSA": 1}


def mhist_arrays(root: Path, split: str) -> tuple[np.ndarray, torch.Tensor]:
    """MHIST: ``<root>/MHIST/annotations.csv`` + ``images/*.png`` (HP=0, SSA=1), 224x224 RGB. A damaged
    copy (a CSV that is not text or lacks its columns, a missing or unreadable image, an image of another
    size) is one :class:`DataError` naming the file. Images as uint8 NHWC."""
    base = Path(root) / "MHIST"
    ann = base / "annotations.csv"
    if not ann.exists():
        raise DataError(
            f"MHIST not found: expected {ann} and {base / 'images'}/ (MHIST needs a registration "
            f"form at bmirds.github.io/MHIST; download it and unpack it there)"
        )
    images, labels = [], []
    for name, label in _mhist_rows(ann, split):
        images.append(_mhist_image(base / "images" / name))
        labels.append(MHIST_CLASSES[label])
    if not images:
        raise DataError(f"{ann}: no images in partition {split!r}")
    return np.stack(images), torch.tensor(labels, dtype=torch.long)


def _mhist_rows(ann: Path, split: str) -> list[tuple[str, str]]:
    """(image name, label) of ``split``'s rows of the annotation file, checked."""
    try:
        with ann.open(newline="", encoding="utf-8-sig") as f:  # a BOM is not part of the first column's name
            reader = csv.DictReader(f)
            missing = [c for c in MHIST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{ann}: not MHIST's annotation file (no column {', '.join(map(repr, missing))}; "
                                f"expected {list(MHIST_COLUMNS)})")
            rows = [((r["Image Name"] or "").strip(), (r["Majority Vote Label"] or "").strip())
                    for r in reader if (r["Partition"] or "").strip() == split]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{ann}: not a readable CSV text file ({type(e).__name__})") from None
    for _, label in rows:
        if label not in MHIST_CLASSES:
            raise DataError(f"{ann}: unknown label {label[:40]!r}; expected {sorted(MHIST_CLASSES)}")
    return rows


def _mhist_image(path: Path) -> np.ndarray:
    """One 224x224 RGB patch as uint8 HWC."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"MHIST image {path} is listed in annotations.csv but missing") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"MHIST image {path} cannot be read ({type(e).__name__}); the copy is damaged") from None
    if pixels.shape != (224, 224, 3):
        raise DataError(f"MHIST image {path} is {pixels.shape[1]}x{pixels.shape[0]}; MHIST patches are 224x224")
    return pixels
