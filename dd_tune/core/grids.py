"""Image grids a person can read: one row per class, its name on the left, small images upscaled.

Used for ``best/synset.png``, the TensorBoard ``synset`` images and the reports' side-by-side
figures. MNIST's 28x28 pixels become 84x84 cells (nearest neighbour, so pixels stay visible).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # PIL is imported where an image is drawn
    from PIL import Image

MIN_CELL = 84  # pixels per image side after upscaling
LABEL_WIDTH = 96  # pixels of the class-name column


def upscale_factor(height: int, width: int) -> int:
    return max(1, math.ceil(MIN_CELL / max(1, min(height, width))))


def grid_image(grid: torch.Tensor, class_names: list[str], cell: tuple[int, int]) -> "Image.Image":
    """``grid`` ``[C, rows*h, cols*w]`` in [0, 1] (one row per class) -> an RGB PIL image with each row
    labelled by its class name and every ``cell`` = (h, w) upscaled to at least ``MIN_CELL`` pixels."""
    from PIL import Image, ImageDraw

    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    scale = upscale_factor(*cell)
    img = Image.fromarray(arr).resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.Resampling.NEAREST)
    out = Image.new("RGB", (img.width + LABEL_WIDTH, img.height), "white")
    out.paste(img, (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(out)
    row_h = cell[0] * scale
    for c, name in enumerate(class_names):
        draw.text((4, c * row_h + row_h // 2 - 6), name[:14], fill="black")
    return out


CLASSES_PER_LINE = 10  # TensorBoard's grid: at most this many class columns side by side
LABEL_HEIGHT = 16  # pixels of a line's class-name strip


def class_columns(grid: torch.Tensor, class_names: list[str], cell: tuple[int, int],
                  per_line: int = CLASSES_PER_LINE) -> "Image.Image":
    """The same images as :func:`grid_image`, one *column* per class (its name above it) and at most
    ``per_line`` classes side by side, further classes on the next line: a set of 10 classes at 1 image per
    class is one row a screen wide, not a column ten images tall (TensorBoard shows images at their size)."""
    from PIL import Image, ImageDraw

    h, w = cell
    n_cls, cols = grid.shape[1] // h, grid.shape[2] // w
    blocks = grid.reshape(grid.shape[0], n_cls, h, cols, w).permute(1, 3, 0, 2, 4)  # [class, image, C, h, w]
    scale = upscale_factor(h, w)
    per_line = max(1, min(per_line, n_cls))
    lines = math.ceil(n_cls / per_line)
    line_h = LABEL_HEIGHT + cols * h * scale
    out = Image.new("RGB", (per_line * w * scale, lines * line_h), "white")
    draw = ImageDraw.Draw(out)
    for c in range(n_cls):
        x, y = (c % per_line) * w * scale, (c // per_line) * line_h
        draw.text((x + 2, y + 2), class_names[c][:max(4, w * scale // 7)], fill="black")
        column = blocks[c].permute(1, 0, 2, 3).reshape(grid.shape[0], cols * h, w)  # its images, top to bottom
        out.paste(grid_image(column, [], (h, w)).crop((LABEL_WIDTH, 0, LABEL_WIDTH + w * scale, cols * h * scale)),
                  (x, y + LABEL_HEIGHT))
    return out


def save_grid(image: "Image.Image", path: str | Path) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return str(path)
