"""The training data of a study: the stratified validation split carved from the training set and
class-indexed tensors on the trial's device (the test split only for the final re-evaluation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dd_tune.base import seeds
from dd_tune.base.errors import DataError
from dd_tune.core.datasets import DATASETS, DatasetSpec, load_split, normalize
from dd_tune.core.zca import Whitening, dataset_whitening, unit_pixels


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic per-class split -> (train_idx, val_idx), both sorted.

    Each class gives ``round(fraction * n_c)`` images (at least one) to validation, chosen by a
    generator seeded with ``seed`` only, so every trial and every study sees the same split.
    """
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c, as_tuple=True)[0]
        perm = idx[torch.randperm(len(idx), generator=g)]
        n_val = max(1, round(fraction * len(idx)))
        val.append(perm[:n_val])
        train.append(perm[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


class ClassIndexedData:
    """Normalised images sorted by class, kept on one device, with per-class batch sampling."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        order = torch.argsort(labels, stable=True)
        self.images = images[order]
        self.labels = labels[order]
        self.num_classes = num_classes
        counts = torch.bincount(self.labels.cpu(), minlength=num_classes)
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0, as_tuple=True)[0].tolist()
            raise DataError(f"classes {missing} have no images")
        self.counts = counts.to(self.images.device)
        self.offsets = torch.cumsum(counts, 0).sub(counts).to(self.images.device)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.labels)

    def class_slice(self, c: int) -> torch.Tensor:
        start = int(self.offsets[c])
        return self.images[start : start + int(self.counts[c])]

    def sample_per_class(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` images per class, without replacement within a class (capped at the class size).

        Returns global indices shaped ``[C, n]``; vectorised over classes (one ``argsort`` of random
        keys, padded entries pushed to the end) instead of a Python loop of ``randperm`` calls.
        """
        n_max = int(self.counts.max())
        n = min(n, int(self.counts.min()))
        keys = torch.rand(self.num_classes, n_max, generator=generator, device=generator.device)
        keys = keys.to(self.device)
        pad = torch.arange(n_max, device=self.device).unsqueeze(0) >= self.counts.unsqueeze(1)
        keys = keys.masked_fill(pad, 2.0)
        local = keys.argsort(dim=1)[:, :n]
        return local + self.offsets.unsqueeze(1)

    def sample_each_class(self, n: int, generator: torch.Generator) -> list[torch.Tensor]:
        """``n`` images of every class (all of a class that has fewer), without replacement: global
        indices, one tensor per class (ragged, unlike :meth:`sample_per_class`)."""
        keys = torch.rand(self.num_classes, int(self.counts.max()), generator=generator, device=generator.device)
        out = []
        for c in range(self.num_classes):
            size = int(self.counts[c])
            local = keys[c, :size].to(self.device).argsort()[:min(n, size)]
            out.append(local + self.offsets[c])
        return out

    def to(self, device: torch.device | str) -> "ClassIndexedData":
        return ClassIndexedData(self.images.to(device), self.labels.to(device), self.num_classes)


@dataclass
class LoadedData:
    """Train (minus validation), validation and (optionally) test tensors of one dataset."""

    spec: DatasetSpec
    train: ClassIndexedData
    val: ClassIndexedData
    test: ClassIndexedData | None
    whitening: Whitening | None = None  # the ZCA transform every split went through (None: mean/std)


def pixels(images_uint8: torch.Tensor, spec: DatasetSpec, whitening: Whitening | None) -> torch.Tensor:
    """What every network of a study sees: mean/std-normalised pixels, or [0, 1] pixels ZCA-whitened."""
    return normalize(images_uint8, spec) if whitening is None else whitening.whiten(unit_pixels(images_uint8))


_CACHE: dict[tuple[Any, ...], LoadedData] = {}


def load_data(
    name: str,
    root: Path,
    val_fraction: float,
    split_seed: int,
    with_test: bool = False,
    device: torch.device | str = "cpu",
    max_train_per_class: int = 0,
    zca: bool = False,
    zca_dir: Path | None = None,
) -> LoadedData:
    """Load a dataset, normalise it (or ZCA-whiten it, ``zca``; the fitted transform cached in
    ``zca_dir``) and carve the validation split (cached per process).

    ``max_train_per_class > 0`` keeps that many training images per class (a fixed, seeded subset).
    """
    spec = DATASETS.get(name)
    key = (name, str(root), val_fraction, split_seed, with_test, str(device), max_train_per_class, zca)
    if key in _CACHE:
        return _CACHE[key]
    x, y = load_split(spec, Path(root), "train")
    whitening = dataset_whitening(spec, Path(root), zca_dir, x) if zca else None
    x = pixels(x, spec, whitening)
    train_idx, val_idx = stratified_split(y, val_fraction, split_seed)
    if max_train_per_class > 0:
        g = torch.Generator().manual_seed(seeds.subset_seed(split_seed))
        keep = [train_idx[y[train_idx] == c] for c in range(spec.num_classes)]
        picked = [k[torch.randperm(len(k), generator=g)[:max_train_per_class]] for k in keep]
        train_idx = torch.cat(picked).sort().values
    test = load_test(name, root, device, whitening) if with_test else None
    out = LoadedData(
        spec,
        ClassIndexedData(x[train_idx], y[train_idx], spec.num_classes).to(device),
        ClassIndexedData(x[val_idx], y[val_idx], spec.num_classes).to(device),
        test,
        whitening,
    )
    _CACHE[key] = out
    return out


def train_class_counts(name: str, root: Path, val_fraction: float, split_seed: int,
                       max_train_per_class: int = 0) -> list[int]:
    """Images per class of the training split a study uses (validation carved out, capped)."""
    spec = DATASETS.get(name)
    _, labels = load_split(spec, Path(root), "train")
    train_idx, _ = stratified_split(labels, val_fraction, split_seed)
    counts = torch.bincount(labels[train_idx], minlength=spec.num_classes).tolist()
    return [min(c, max_train_per_class) if max_train_per_class > 0 else c for c in counts]


_TEST_CACHE: dict[tuple[Any, ...], ClassIndexedData] = {}


def load_test(name: str, root: Path, device: torch.device | str = "cpu",
              whitening: Whitening | None = None) -> ClassIndexedData:
    """The test split alone, normalised or whitened with the training split's transform (cached per
    process): the final evaluation needs nothing else."""
    key = (name, str(root), str(device), whitening is not None)
    if key not in _TEST_CACHE:
        spec = DATASETS.get(name)
        x, y = load_split(spec, Path(root), "test")
        _TEST_CACHE[key] = ClassIndexedData(pixels(x, spec, whitening), y, spec.num_classes).to(device)
    return _TEST_CACHE[key]
