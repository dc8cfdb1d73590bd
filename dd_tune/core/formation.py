"""IDC's multi-formation (Kim et al., ICML 2022): how stored images become training images.

A stored image is cut into ``factor`` x ``factor`` tiles and every tile is resized back to the full
image size, so IPC stored images per class train a network on ``factor² x IPC`` images per class while
the storage budget stays IPC images (docs/methods.md, "Multi-formation"). ``factor`` 1 is the identity.

Rendered from the authors' ``Synthesizer.decode_zoom`` (snu-mllab/Efficient-Dataset-Condensation,
condense.py): an image whose side is not a multiple of the factor is padded on the right and bottom with
0.5, tiles have side ``ceil(h / factor)``, are taken row-major and concatenated tile-major (tile (0, 0) of
every image, then (0, 1), ...), and are upsampled bilinearly (``nn.Upsample`` default, align_corners
False). The authors decode class by class; :func:`decode_grouped` does all classes at once and keeps the
per-class, tile-major order. :func:`mix_tiles` is their ``init='mix'`` (the only init they use with a
factor > 1): each tile of a stored image is a different real image, downsampled (nearest neighbour).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_FACTOR = 4


def decode_zoom(images: torch.Tensor, factor: int) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[factor² N, C, H, W]`` in the authors' tile-major order."""
    if factor <= 1:
        return images
    h, w = images.shape[-2:]
    side = images.shape[-1]  # the authors read the width and assume square images
    remainder = side % factor
    if remainder:
        images = F.pad(images, (0, factor - remainder, 0, factor - remainder), value=0.5)
    s = math.ceil(side / factor)
    tiles = [images[:, :, i * s:(i + 1) * s, j * s:(j + 1) * s] for i in range(factor) for j in range(factor)]
    return F.interpolate(torch.cat(tiles), size=(h, w), mode="bilinear", align_corners=False)


def decode_grouped(images: torch.Tensor, num_classes: int, factor: int) -> torch.Tensor:
    """A class-grouped set ``[C * ipc, ...]`` decoded class by class: ``[C * factor² * ipc, ...]``, still
    grouped by class (within a class in the authors' tile-major order). One interpolation for all classes."""
    if factor <= 1:
        return images
    n, ch, h, w = images.shape
    ipc = n // num_classes
    decoded = decode_zoom(images, factor)  # [f² * C * ipc]: tile-major over the whole set
    f2 = factor * factor
    return decoded.view(f2, num_classes, ipc, ch, h, w).transpose(0, 1).reshape(num_classes * f2 * ipc, ch, h, w)


def decode_labels_grouped(labels: torch.Tensor, num_classes: int, factor: int) -> torch.Tensor:
    """The labels of :func:`decode_grouped`'s images: each stored image's label (hard ``[N]`` or soft
    ``[N, K]``) for every one of its tiles, in the same order."""
    if factor <= 1:
        return labels
    per_class = labels.view(num_classes, 1, -1, *labels.shape[1:])
    return per_class.expand(-1, factor * factor, *per_class.shape[2:]).reshape(-1, *labels.shape[1:])


def tile_sizes(side: int, factor: int) -> list[int]:
    """Side of each tile row/column of ``mix_tiles``: the first ``side % factor`` get one pixel more."""
    base, extra = divmod(side, factor)
    return [base + (1 if k < extra else 0) for k in range(factor)]


def mix_tiles(reals: torch.Tensor, ipc: int, factor: int) -> torch.Tensor:
    """IDC's ``mix`` initialisation of one class: ``reals`` ``[factor² * ipc, C, H, W]`` -> ``[ipc, C, H, W]``.

    Tile k (row-major) of stored image m is real image ``k * ipc + m``, downsampled with nearest-neighbour
    interpolation (``F.interpolate``'s default) to the tile's size, so decoding gives back (a blurred
    copy of) each real image.
    """
    if factor <= 1:
        return reals[:ipc].clone()
    _, ch, h, w = reals.shape
    out = reals.new_zeros(ipc, ch, h, w)
    rows, cols = tile_sizes(h, factor), tile_sizes(w, factor)
    k, top = 0, 0
    for hr in rows:
        left = 0
        for wr in cols:
            out[:, :, top:top + hr, left:left + wr] = F.interpolate(reals[k * ipc:(k + 1) * ipc], size=(hr, wr))
            k, left = k + 1, left + wr
        top += hr
    return out


def mix_grouped(reals: torch.Tensor, num_classes: int, ipc: int, factor: int) -> torch.Tensor:
    """:func:`mix_tiles` for every class of a class-grouped ``[C * factor² * ipc, ...]`` batch."""
    per_class = reals.view(num_classes, -1, *reals.shape[1:])
    return torch.cat([mix_tiles(block, ipc, factor) for block in per_class])
