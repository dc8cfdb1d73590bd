"""The datasets dd_tune knows: their facts, where their files are, how they are read and checked.

Real download code (torchvision, MD5-checked) for MNIST, FashionMNIST, CIFAR-10/100 and SVHN; MHIST is
read from its ``images/`` + ``annotations.csv`` layout (it needs a registration form, so no download).
Every split that is read is checked (:func:`validate_split`) before anything trains on it.
CIFAR's unpacked batches are read by ``core.cifar`` (checked by content, not by MD5: see there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from dd_tune.base.errors import DataError
from dd_tune.base.hashing import content_key
from dd_tune.base.registry import Registry
from dd_tune.config.files import user_path
from dd_tune.core.cifar import cifar_arrays
from dd_tune.core.mhist import mhist_arrays

Split = Literal["train", "test"]


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset (docs/methods.md §1.1)."""

    name: str
    channels: int
    size: tuple[int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    # DSA strategy: no flip for digits (DSA README: "flip augmentation is not good for digit datasets")
    dsa_strategy: str
    loader: Callable[[Path, Split, bool], tuple[torch.Tensor, torch.Tensor]]
    test_images: int = 0  # size of the published test split (for FLOP estimates without loading it)
    train_images: int = 0  # size of the published training split (0: not checked)
    # mean/std above are this dataset's own pixel statistics (False: borrowed, e.g. ImageNet's for MHIST),
    # so a loaded split whose mean is far from them is corrupt
    own_stats: bool = True
    classes: tuple[str, ...] = ()  # class names in label order (image grids); empty: "class <i>"
    # split sizes above are checked against what was read (False: MHIST, whose loader also reads
    # generated data in the same layout; its test size only feeds FLOP estimates)
    check_sizes: bool = True


DATASETS: Registry[DatasetSpec] = Registry("dataset")

_FULL = "color_crop_cutout_flip_scale_rotate"
_DIGITS = "color_crop_cutout_scale_rotate"
_DIGIT_NAMES = tuple(str(d) for d in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _to_nchw_uint8(array: np.ndarray | torch.Tensor, layout: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(array))
    if layout == "NHW":
        t = t.unsqueeze(1)
    elif layout == "NHWC":
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()


def _check_archives(cls: type, root: Path) -> None:
    """A downloaded archive whose checksum is wrong (truncated, corrupt) is named as such: torchvision
    would otherwise try to download it again and report a network failure on an offline machine."""
    from torchvision.datasets.utils import check_integrity

    raw = Path(root) / cls.__name__ / "raw"
    for filename, md5 in getattr(cls, "resources", ()):
        path = raw / filename
        if path.exists() and not check_integrity(str(path), md5):
            raise DataError(f"{path} fails its MD5 checksum (truncated or corrupt download): delete it so that "
                            f"it is downloaded again")


def _source(cls_name: str, root: Path, split: Split, part: str) -> str:
    """The file a loaded split came from (to name it when its content is wrong)."""
    if cls_name in ("MNIST", "FashionMNIST"):
        prefix = "train" if split == "train" else "t10k"
        kind = "images-idx3" if part == "images" else "labels-idx1"
        return str(Path(root) / cls_name / "raw" / f"{prefix}-{kind}-ubyte")
    if cls_name in ("CIFAR10", "CIFAR100"):
        folder = "cifar-10-batches-py" if cls_name == "CIFAR10" else "cifar-100-python"
        return f"the {split} batches in {Path(root) / folder}"
    return f"the {cls_name} files under {root}"


def _offline_hint(cls: type, root: Path) -> str:
    """Where torchvision looks for an archive it downloads itself (CIFAR-10/100: one tar.gz unpacked under
    the root; SVHN: one .mat file per split), for a machine that cannot download it."""
    url, filename = getattr(cls, "url", None), getattr(cls, "filename", None)
    if isinstance(url, str) and isinstance(filename, str):
        return (f" Offline: fetch {url} on a machine with internet and put {filename} in {root} (torchvision "
                f"checks its MD5 and unpacks it there)")
    split_list = getattr(cls, "split_list", None)
    if isinstance(split_list, dict):
        files = ", ".join(f"{v[1]} ({v[0]})" for v in split_list.values() if isinstance(v, (list, tuple)))
        return f" Offline: put {files} in {root}"
    return ""


def _mhist_loader(root: Path, split: Split, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = mhist_arrays(root, split)  # MHIST is never downloaded (a registration form)
    return _to_nchw_uint8(images, "NHWC"), labels


def _torchvision_loader(cls_name: str, layout: str) -> Callable[[Path, Split, bool], tuple[Any, ...]]:
    def load(root: Path, split: Split, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        _check_archives(cls, root)
        kwargs = {"split": split} if cls_name == "SVHN" else {"train": split == "train"}
        try:
            ds = cls(str(root), download=download, **kwargs)
            data = ds.data
            targets = ds.labels if cls_name == "SVHN" else ds.targets
            images = _to_nchw_uint8(data, layout)
        except Exception as e:  # torchvision raises RuntimeError/URLError/OSError/ValueError variously
            raise DataError(
                f"could not load {cls_name} ({split}) from {root}: {_reason(e)}. Check the "
                f"data root (--data-root or DD_TUNE_DATA) or the network connection for the download; a "
                f"corrupt file is downloaded again once deleted.{_offline_hint(cls, root)}"
            ) from None
        labels = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        return images, labels

    load.source = lambda root, split, part: _source(cls_name, root, split, part)  # type: ignore[attr-defined]
    return load


def _cifar_loader(cls_name: str) -> Callable[[Path, Split, bool], tuple[Any, ...]]:
    """CIFAR-10/100 from torchvision's layout (``<root>/cifar-10-batches-py/data_batch_1`` ...): the
    archive is fetched and unpacked by torchvision when the folder is missing, the batches read here."""
    download_once = _torchvision_loader(cls_name, "NHWC")

    def load(root: Path, split: Split, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        folder = Path(root) / cls.base_folder
        if not folder.is_dir():
            return download_once(root, split, download)
        names = [name for name, _md5 in (cls.train_list if split == "train" else cls.test_list)]
        images, labels = cifar_arrays(folder, names, _offline_hint(cls, root))
        return torch.from_numpy(images), torch.as_tensor(labels, dtype=torch.long)

    load.source = lambda root, split, part: _source(cls_name, root, split, part)  # type: ignore[attr-defined]
    return load


def validate_split(spec: "DatasetSpec", root: Path, split: Split, images: torch.Tensor,
                   labels: torch.Tensor) -> None:
    """Refuse data that would train silently on garbage: wrong format or shape, labels out of range, a
    missing class, a split of the wrong size, pixel statistics far from the dataset's own."""
    source = getattr(spec.loader, "source", lambda r, s, p: f"the {spec.name} files under {r}")
    fix = "delete it (and its .gz archive, if any) so that it is downloaded again"
    where_img, where_lab = source(root, split, "images"), source(root, split, "labels")
    expect = (spec.channels, *spec.size)
    if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != expect:
        raise DataError(f"{where_img}: expected uint8 images of shape [N, {', '.join(map(str, expect))}], got "
                        f"{images.dtype} {list(images.shape)}; {fix}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise DataError(f"{where_lab}: {len(labels)} labels for {len(images)} images; {fix}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= spec.num_classes):
        raise DataError(f"{where_lab}: labels must lie in [0, {spec.num_classes}), found {int(labels.min())}.."
                        f"{int(labels.max())}; {fix}")
    expected_n = (spec.train_images if split == "train" else spec.test_images) if spec.check_sizes else 0
    if expected_n and len(labels) != expected_n:
        raise DataError(f"{where_lab}: {len(labels)} {split} images, expected {expected_n}; {fix}")
    counts = torch.bincount(labels, minlength=spec.num_classes)
    if (counts == 0).any():
        raise DataError(f"{where_lab}: classes {torch.nonzero(counts == 0).flatten().tolist()} have no images; {fix}")
    if spec.own_stats:
        mean = images[: min(len(images), 5000)].float().mean(dim=(0, 2, 3)).div(255.0)
        gap = float((mean - torch.tensor(spec.mean)).abs().max())
        if gap > 0.1:
            raise DataError(f"{where_img}: mean pixel {[round(float(m), 3) for m in mean]}, expected "
                            f"{list(spec.mean)} for {spec.name}: the file is corrupt; {fix}")


for _spec in (
    DatasetSpec("mnist", 1, (28, 28), 10, (0.1307,), (0.3081,), _DIGITS,
                _torchvision_loader("MNIST", "NHW"), 10_000, 60_000, classes=_DIGIT_NAMES),
    DatasetSpec("fashionmnist", 1, (28, 28), 10, (0.2861,), (0.3530,), _FULL,
                _torchvision_loader("FashionMNIST", "NHW"), 10_000, 60_000, classes=_FASHION),
    DatasetSpec("cifar10", 3, (32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010),
                _FULL, _cifar_loader("CIFAR10"), 10_000, 50_000, classes=_CIFAR10),
    DatasetSpec("cifar100", 3, (32, 32), 100, (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762),
                _FULL, _cifar_loader("CIFAR100"), 10_000, 50_000),
    DatasetSpec("svhn", 3, (32, 32), 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970),
                _DIGITS, _torchvision_loader("SVHN", "NCHW"), 26_032, 73_257, classes=_DIGIT_NAMES),
    # MHIST has no published normalisation; ImageNet statistics are the usual choice for H&E patches
    # (so they are not checked against the loaded pixels). Split sizes are not checked either: the
    # loader is also used on generated data in the same layout.
    DatasetSpec("mhist", 3, (224, 224), 2, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), _FULL,
                _mhist_loader, 977, 0, own_stats=False, classes=("HP", "SSA"),
                check_sizes=False),
):
    DATASETS.add(_spec.name, _spec)


def _reason(e: Exception) -> str:
    """An exception in a few words, also when it carries none (torchvision's idx reader asserts on a bad
    magic number without a message)."""
    text = " ".join(str(e).split())[:300]
    if not text and isinstance(e, AssertionError):
        return "a file is not in the expected format (bad header or magic number)"
    return text or type(e).__name__


def user_cache_root() -> Path:
    """The per-user download cache (``$XDG_CACHE_HOME`` or ``~/.cache``)/dd_tune/data."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(cache) / "dd_tune" / "data").resolve()


def default_data_root() -> Path:
    """``$DD_TUNE_DATA`` if set, else a per-user cache directory."""
    env = os.environ.get("DD_TUNE_DATA")
    return user_path(env, "DD_TUNE_DATA") if env else user_cache_root()


def resolve_data_root(path: str | os.PathLike[str] | None) -> Path:
    """An explicit root (``--data-root`` or ``DD_TUNE_DATA``) must be an existing directory (a typo should
    not silently trigger a fresh download); the default per-user cache is created on demand."""
    if path is None and not os.environ.get("DD_TUNE_DATA"):
        root = user_cache_root()
        if root.exists() and not root.is_dir():
            raise DataError(f"the default data root {root} is a file, not a directory; remove it or pass --data-root")
        root.mkdir(parents=True, exist_ok=True)
        return root
    root = user_path(path, "--data-root") if path is not None else default_data_root()
    given = "--data-root" if path is not None else "DD_TUNE_DATA"
    if root.exists() and not root.is_dir():
        raise DataError(f"data root {root} ({given}) is a file, not a directory; point {given} at a directory, or "
                        f"omit --data-root and DD_TUNE_DATA to use the default cache {user_cache_root()}")
    if not root.is_dir():
        raise DataError(
            f"data root {root} ({given}) does not exist; create it, or omit --data-root and DD_TUNE_DATA to use "
            f"the default cache {user_cache_root()}"
        )
    return root


def normalize(images_uint8: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    x = images_uint8.float().div_(255.0)
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    return (x - mean) / std


def denormalize(images: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Normalised images -> [0, 1] pixels (for image grids)."""
    mean = torch.tensor(spec.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=images.device).view(1, -1, 1, 1)
    return (images * std + mean).clamp(0, 1)


def load_split(spec: DatasetSpec, root: Path, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as uint8 images and labels, downloaded if needed and checked (:func:`validate_split`)."""
    images, labels = spec.loader(Path(root), split, True)
    validate_split(spec, Path(root), split, images, labels)
    return images, labels


def data_digest(name: str, root: Path) -> str:
    """The dataset as loaded (both splits' uint8 images and labels), hashed: a study's fingerprint says
    whether two runs saw the same data, whatever the files' layout."""
    spec = DATASETS.get(name)
    splits: tuple[Split, ...] = ("train", "test")
    tensors = [t for split in splits for t in load_split(spec, Path(root), split)]
    return content_key({"dataset": name}, tensors=tensors)


def prepare_dataset(name: str, root: Path) -> None:
    """Download/verify both splits now (fail early, before any study directory exists)."""
    spec = DATASETS.get(name)
    splits: tuple[Split, ...] = ("train", "test")
    for split in splits:
        load_split(spec, Path(root), split)
