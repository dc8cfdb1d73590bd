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


def save_grid(image: "Image.Image", path: str | Path) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return str(path)
