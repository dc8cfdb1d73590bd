"""Generated data in CIFAR-10/100's exact on-disk layout (torchvision's pickled python batches), for the
CIFAR paths that cannot see the real files on an offline machine.

Full size by default (50 000 training and 10 000 test images: what dd_tune checks real CIFAR against),
each class a colour of its own plus noise, so a network can learn something from it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

_LAYOUT = {
    # folder, training batches, test batch, label key, meta file, meta key
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels",
                "batches.meta", "label_names"),
    "cifar100": ("cifar-100-python", ["train"], "test", "fine_labels", "meta", "fine_label_names"),
}


def write_cifar(root: Path, name: str = "cifar10", train: int = 50_000, test: int = 10_000, seed: int = 0) -> Path:
    """Write ``name``'s batches under ``root`` (the data root) and return the folder."""
    folder_name, train_files, test_file, label_key, meta_file, meta_key = _LAYOUT[name]
    classes = 10 if name == "cifar10" else 100
    rng = np.random.default_rng(seed)
    colours = rng.uniform(0.3, 0.7, size=(classes, 3, 1, 1))
    folder = Path(root) / folder_name
    folder.mkdir(parents=True, exist_ok=True)

    def batch(n: int) -> dict:
        labels = np.arange(n) % classes
        rng.shuffle(labels)
        pixels = colours[labels] + rng.normal(0.0, 0.2, size=(n, 3, 32, 32))
        data = (np.clip(pixels, 0, 1) * 255).astype(np.uint8).reshape(n, 3072)
        return {"batch_label": b"generated", "data": data, label_key: labels.tolist()}

    for file, n in [(f, train // len(train_files)) for f in train_files] + [(test_file, test)]:
        with open(folder / file, "wb") as f:
            pickle.dump(batch(n), f)
    with open(folder / meta_file, "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(classes)]}, f)
    return folder
