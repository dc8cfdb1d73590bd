"""The synthetic set: images, labels and what a method learned besides (step size, soft labels)."""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dd_tune.base.atomic import atomic_torch_save
from dd_tune.base.errors import DataError
from dd_tune.core.datasets import DATASETS, denormalize
from dd_tune.core.formation import MAX_FACTOR, decode_grouped, decode_labels_grouped
from dd_tune.core.grids import class_columns, grid_image, save_grid
from dd_tune.core.zca import Whitening

# bounds of a set file that are never met by a real one, checked before anything downstream trusts it
MAX_SET_BYTES = 512 * 2**20  # unpacked archive members (CIFAR-100 at IPC 50: 60 MiB)
MAX_PIXEL = 1e4  # |normalised or whitened pixel|: real sets stay within tens
MAX_LR = 1e3  # a learned evaluation step size (PAD's alpha starts at 0.01)


@dataclass
class SynSet:
    """A distilled dataset in normalised pixel space.

    ``labels`` are class indices ``[N]`` (hard) or logits ``[N, C]`` (soft, learned by PAD).
    ``lr`` is a learned evaluation step size (PAD), else ``None``. ``factor`` > 1: the stored images are
    IDC multi-formation images, decoded into ``factor²`` training images each (:meth:`training_set`);
    the storage budget is ``ipc`` stored images per class either way. ``zca``: the images live in the
    ZCA-whitened space of the dataset (data.zca); it is evaluated on the whitened test split and un-whitened
    for pictures.
    """

    images: torch.Tensor
    labels: torch.Tensor
    dataset: str
    ipc: int
    method: str
    lr: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    factor: int = 1
    zca: bool = False

    def training_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) a network trains on: the stored set decoded by multi-formation (itself at
        factor 1), still grouped by class."""
        c = self.num_classes
        return decode_grouped(self.images, c, self.factor), decode_labels_grouped(self.labels, c, self.factor)

    @property
    def training_images_per_class(self) -> int:
        """How many images per class an evaluation of this set trains on (``factor² x ipc``)."""
        return self.ipc * self.factor ** 2

    @property
    def num_classes(self) -> int:
        return DATASETS.get(self.dataset).num_classes

    @property
    def hard_labels(self) -> torch.Tensor:
        """The argmax of soft labels (what the set's labels say), or the hard labels."""
        return self.labels if self.labels.dim() == 1 else self.labels.argmax(dim=1)

    @property
    def class_labels(self) -> torch.Tensor:
        """Each image's class: sets are stored grouped by class, ``ipc`` images each (a learned soft
        label may drift to another argmax; the image still belongs to the class it was made for)."""
        if self.labels.dim() == 1:
            return self.labels
        n = len(self.images)
        if n != self.ipc * self.labels.shape[1]:
            raise DataError(f"a soft-labelled set of {n} images is not {self.labels.shape[1]} classes x {self.ipc}")
        return torch.arange(self.labels.shape[1]).repeat_interleave(self.ipc).to(self.labels.device)

    def with_class_labels(self) -> "SynSet":
        """The same images with hard class labels and no learned step size (the protocol's lr): the
        "hard labels, lr 0.01" row that keeps a soft-label method comparable with the others."""
        return SynSet(self.images, self.class_labels, self.dataset, self.ipc, self.method,
                      meta={**self.meta, "variant": "class labels, protocol lr"}, factor=self.factor,
                      zca=self.zca)

    def detached(self) -> "SynSet":
        return SynSet(self.images.detach().cpu().clone(), self.labels.detach().cpu().clone(),
                      self.dataset, self.ipc, self.method, self.lr, dict(self.meta), self.factor, self.zca)

    def save(self, path: str | Path) -> None:
        """Write the set. Images and labels must pair up (a set :meth:`load` could never read back is not
        written); the values are not checked here, so a diverged trial's checkpoint is still kept."""
        if self.labels.dim() not in (1, 2) or len(self.labels) != len(self.images):
            raise DataError(f"synthetic set to save as {path}: {len(self.images)} images but labels of shape "
                            f"{list(self.labels.shape)}")
        # written to a new file and renamed into place: a reader never sees half a set, and a hard link
        # at the path is replaced, not written through
        atomic_torch_save({
            "images": self.images.detach().cpu(),
            "labels": self.labels.detach().cpu(),
            # metadata as JSON text so the file loads with weights_only=True
            "info": json.dumps({"dataset": self.dataset, "ipc": self.ipc, "method": self.method,
                                "lr": self.lr, "meta": self.meta, "factor": self.factor, "zca": self.zca}),
        }, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> "SynSet":
        """Read a set written by :meth:`save` (``weights_only``) and check it (:meth:`validate`): an empty,
        truncated, foreign or inconsistent file is one clear :class:`DataError`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"synthetic set {path} does not exist" if not path.exists()
                            else f"synthetic set {path} is not a file")
        _check_archive(path)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            info = json.loads(blob["info"])
            synset = cls(blob["images"], blob["labels"], info["dataset"], int(info["ipc"]),
                         str(info["method"]), info["lr"], info.get("meta", {}), info.get("factor", 1),
                         info.get("zca", False))
        except Exception as e:  # pickle/zip/EOF/key/type errors: whatever a broken file raises
            raise DataError(f"{path} is not a dd_tune synthetic set ({_first_sentence(e)})") from None
        synset.validate(str(path))
        return synset

    def validate(self, where: str = "synthetic set") -> None:
        """Tensors, shapes, labels and learned step size consistent with the dataset it claims."""
        if not isinstance(self.images, torch.Tensor) or not isinstance(self.labels, torch.Tensor):
            raise DataError(f"{where}: images and labels must be tensors")
        if self.dataset not in DATASETS.names():
            raise DataError(f"{where}: unknown dataset {self.dataset!r}; choose from {DATASETS.names()}")
        spec = DATASETS.get(self.dataset)
        expect = (spec.channels, *spec.size)
        if self.images.dtype != torch.float32 or self.images.dim() != 4 or tuple(self.images.shape[1:]) != expect:
            raise DataError(f"{where}: {spec.name} images must be float32 [N, {', '.join(map(str, expect))}], got "
                            f"{self.images.dtype} {list(self.images.shape)}")
        n = len(self.images)
        if self.ipc < 1 or n != self.ipc * spec.num_classes:
            raise DataError(f"{where}: {n} images is not {spec.num_classes} classes x ipc {self.ipc}")
        if not bool(torch.isfinite(self.images).all()):
            raise DataError(f"{where}: the images contain NaN or inf")
        if n and float(self.images.abs().max()) > MAX_PIXEL:  # normalised pixels lie within a few units of 0
            raise DataError(f"{where}: pixel values up to {float(self.images.abs().max()):.3g}; a set's normalised "
                            f"pixels lie within +-{MAX_PIXEL:g}")
        if self.labels.dtype not in (torch.int64, torch.float32):
            raise DataError(f"{where}: labels must be int64 class indices or float32 logits, got {self.labels.dtype}")
        if self.labels.dim() == 1:
            if self.labels.is_floating_point() or len(self.labels) != n or (
                    n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= spec.num_classes)):
                raise DataError(f"{where}: hard labels must be {n} integers in [0, {spec.num_classes})")
        elif self.labels.dim() != 2 or tuple(self.labels.shape) != (n, spec.num_classes) \
                or not bool(torch.isfinite(self.labels).all()):
            raise DataError(f"{where}: soft labels must be finite logits of shape [{n}, {spec.num_classes}], got "
                            f"{list(self.labels.shape)}")
        if not isinstance(self.zca, bool):
            raise DataError(f"{where}: zca must be true or false, got {self.zca!r}")
        if not (isinstance(self.factor, int) and 1 <= self.factor <= MAX_FACTOR):
            raise DataError(f"{where}: the multi-formation factor must be an integer in [1, {MAX_FACTOR}], got "
                            f"{self.factor!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and not isinstance(self.lr, bool)
                                        and math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise DataError(f"{where}: the learned step size must be a number in (0, {MAX_LR:g}], got {self.lr!r}")

    def viewable(self, images: torch.Tensor, whitening: Whitening | None = None) -> torch.Tensor:
        """Images of this set in [0, 1] for a person: un-normalised, or un-whitened with the dataset's
        transform (without it, each whitened image is stretched to [0, 1], which shows its structure)."""
        if not self.zca:
            return denormalize(images, DATASETS.get(self.dataset))
        if whitening is not None:
            return whitening.unwhiten(images).clamp(0.0, 1.0)
        lo = images.amin(dim=(1, 2, 3), keepdim=True)
        hi = images.amax(dim=(1, 2, 3), keepdim=True)
        return (images - lo) / (hi - lo).clamp_min(1e-12)

    def grid(self, max_per_class: int = 10, whitening: Whitening | None = None) -> torch.Tensor:
        """``[C, rows*H, cols*W]`` image grid in [0, 1]: one row per class."""
        spec = DATASETS.get(self.dataset)
        y = self.class_labels
        rows = []
        for c in range(spec.num_classes):
            imgs = self.images[y == c][:max_per_class].detach().cpu()
            pad = torch.zeros(max_per_class - len(imgs), *self.images.shape[1:])
            rows.append(torch.cat([imgs, pad]) if len(imgs) < max_per_class else imgs)
        imgs = self.viewable(torch.cat(rows), whitening)
        n, ch, h, w = imgs.shape
        cols = min(max_per_class, int(torch.bincount(y, minlength=spec.num_classes).max()))
        imgs = imgs.view(spec.num_classes, max_per_class, ch, h, w)[:, :cols]
        return imgs.permute(2, 0, 3, 1, 4).reshape(ch, spec.num_classes * h, cols * w)

    def image(self, max_per_class: int = 10, whitening: Whitening | None = None) -> "Any":
        """The readable grid (PIL image): one row per class with its name, images upscaled."""
        spec = DATASETS.get(self.dataset)
        names = list(spec.classes) or [f"class {c}" for c in range(spec.num_classes)]
        return grid_image(self.grid(max_per_class, whitening), names, spec.size)

    def board_image(self, max_per_class: int = 10, whitening: Whitening | None = None) -> "Any":
        """The grid as TensorBoard shows it: one column per class, ten classes to a line
        (:func:`dd_tune.core.grids.class_columns`)."""
        spec = DATASETS.get(self.dataset)
        names = list(spec.classes) or [f"class {c}" for c in range(spec.num_classes)]
        return class_columns(self.grid(max_per_class, whitening), names, spec.size)

    def save_png(self, path: str | Path, max_per_class: int = 10, whitening: Whitening | None = None) -> str:
        return save_grid(self.image(max_per_class, whitening), path)


def _check_archive(path: Path) -> None:
    """A set file is a zip archive (torch.save's format): its members' unpacked sizes are read from the
    archive's directory and bounded before anything is unpacked, so a small compressed file cannot grow
    into gigabytes first."""
    if not zipfile.is_zipfile(path):
        return  # not an archive at all: torch.load refuses it in one line below
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DataError(f"{path} is not a dd_tune synthetic set ({type(e).__name__}: {e})") from None
    if size > MAX_SET_BYTES:
        raise DataError(f"{path} would unpack to {size / 2**20:.0f} MiB; a synthetic set is at most "
                        f"{MAX_SET_BYTES // 2**20} MiB (CIFAR-100 at IPC 50 is 60 MiB): not a dd_tune set")


def _first_sentence(e: Exception) -> str:
    """What a broken file raised, in one sentence: torch.load's messages go on to advice about
    ``weights_only`` and miniz internals that only mislead about a file that is simply not a set."""
    text = " ".join(str(e).split())
    for stop in (". ", "; "):
        if stop in text:
            text = text.split(stop, 1)[0]
    return f"{type(e).__name__}: {text[:160].rstrip('.')}" if text else type(e).__name__
