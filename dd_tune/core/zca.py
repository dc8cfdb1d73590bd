"""ZCA whitening, as the trajectory-matching papers (MTT, DATM, PAD) whiten CIFAR: Kornia's
``ZCAWhitening(eps=0.1)`` fitted on the training images in [0, 1] (their ``get_dataset`` skips the
mean/std normalisation when ZCA is on) and applied to every split.

With the images flattened to rows ``X`` (N x D) and their mean ``m``:

    C = (X - m)^T (X - m) / (N - 1)          (Kornia's unbiased covariance)
    C = U diag(S) U^T                         (C is symmetric positive semi-definite)
    W = U diag(1 / sqrt(S + eps)) U^T         whiten:    x -> (x - m) W
    W_inv = U diag(sqrt(S + eps)) U^T         un-whiten: z -> z W_inv + m

Kornia takes U and S from an SVD of C; for a symmetric PSD matrix that is its eigendecomposition, which
is what is computed here (in float64, then stored in float32). Like the authors, dd_tune fits on the
dataset's whole training split (CIFAR-10: all 50 000 images): the fit uses no labels and never the test
split; the validation images dd_tune tunes on are training images and are part of it, so one transform
serves every study of a dataset, and a saved set is evaluated again without its study's split settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dd_tune.base.atomic import atomic_torch_save
from dd_tune.base.errors import DataError
from dd_tune.base.hashing import content_key
from dd_tune.core.datasets import DatasetSpec, load_split

EPS = 0.1  # Kornia's ZCAWhitening(eps=0.1), as MTT, DATM and PAD construct it


@dataclass(frozen=True)
class Whitening:
    """A fitted ZCA transform: ``mean`` (D,), ``matrix`` W and ``inverse`` W_inv (D x D)."""

    mean: torch.Tensor
    matrix: torch.Tensor
    inverse: torch.Tensor
    eps: float = EPS

    def whiten(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in the space the transform was fitted in -> whitened, same shape."""
        flat = images.reshape(len(images), -1).to(self.matrix)
        return ((flat - self.mean) @ self.matrix).reshape(images.shape)

    def unwhiten(self, images: torch.Tensor) -> torch.Tensor:
        """Whitened images back to the fitted space (for pictures a person can read)."""
        flat = images.reshape(len(images), -1).to(self.inverse)
        return (flat @ self.inverse + self.mean).reshape(images.shape)

    def to(self, device: torch.device | str) -> "Whitening":
        return Whitening(self.mean.to(device), self.matrix.to(device), self.inverse.to(device), self.eps)

    def state(self) -> dict[str, torch.Tensor | float]:
        return {"mean": self.mean, "matrix": self.matrix, "inverse": self.inverse, "eps": self.eps}


def fit_zca(images: torch.Tensor, eps: float = EPS) -> Whitening:
    """The ZCA transform of ``images`` (N, C, H, W), N >= 2 (see the module's formulas)."""
    if len(images) < 2:
        raise DataError(f"ZCA needs at least 2 images to estimate a covariance, got {len(images)}")
    flat = images.reshape(len(images), -1).to(torch.float64)
    mean = flat.mean(dim=0)
    centred = flat - mean
    cov = centred.T @ centred / (len(flat) - 1)
    s, u = torch.linalg.eigh(cov)
    s = s.clamp_min(0.0)  # rounding can leave tiny negative eigenvalues of a PSD matrix
    matrix = (u * torch.rsqrt(s + eps)) @ u.T
    inverse = (u * torch.sqrt(s + eps)) @ u.T
    return Whitening(mean.float(), matrix.float(), inverse.float(), eps)


def cached_zca(images: torch.Tensor, cache_dir: Path | None, eps: float = EPS) -> Whitening:
    """:func:`fit_zca`, read from ``cache_dir/zca-<content key>.pt`` when the same images were fitted
    before (a trial, an expert task and a re-evaluation task of a study all need the same transform)."""
    if cache_dir is None:
        return fit_zca(images, eps)
    path = Path(cache_dir) / f"zca-{content_key({'eps': eps}, [images])}.pt"
    if path.exists():
        state = torch.load(path, map_location="cpu", weights_only=True)
        return Whitening(state["mean"], state["matrix"], state["inverse"], float(state["eps"]))
    whitening = fit_zca(images, eps)
    atomic_torch_save(whitening.state(), path)
    return whitening


_DATASET_CACHE: dict[tuple[str, str], Whitening] = {}


def unit_pixels(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> floats in [0, 1]: what the authors whiten (``ToTensor`` without ``Normalize``)."""
    return images_uint8.float() / 255.0


def dataset_whitening(spec: DatasetSpec, root: Path, cache_dir: Path | None = None,
                      train_uint8: torch.Tensor | None = None) -> Whitening:
    """The ZCA transform of ``spec``'s training split in [0, 1] (once per process; on disk in
    ``cache_dir`` when given, beside a study's experts). ``train_uint8``: the split, when the caller has
    read it already."""
    key = (spec.name, str(root))
    if key not in _DATASET_CACHE:
        images = train_uint8 if train_uint8 is not None else load_split(spec, Path(root), "train")[0]
        _DATASET_CACHE[key] = cached_zca(unit_pixels(images), cache_dir)
    return _DATASET_CACHE[key]
