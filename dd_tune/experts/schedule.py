"""PAD's data scheduler (docs/methods.md §4.2, ``buffer_CL.py``): which training samples an expert sees
in each epoch, from per-class index rows ordered easy -> hard.

| epoch e                              | data used                                               |
|--------------------------------------|---------------------------------------------------------|
| e <= add_end_epoch                   | easiest r(e) of each class, r(e) = min(1, r0 + (1 - r0) e / add_end_epoch) |
| add_end_epoch < e <= rm_epoch_first  | all                                                     |
| rm_epoch_first < e <= rm_epoch_second| all but the easiest rm_easy_ratio_first of each class   |
| e > rm_epoch_second                  | all but the easiest rm_easy_ratio_second of each class  |

Per-class counts come from the data (MNIST classes are unequal; PAD hard-codes 5 000, which empties
CIFAR-100 classes). ``enabled: false`` (MTT/DATM experts) uses every sample in every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dd_tune.config import require


@dataclass(frozen=True)
class ScheduleConfig:
    """PAD README values for CIFAR-10 (the argparse defaults differ; PAD's README uses these)."""

    enabled: bool = True
    init_ratio: float = 0.75
    add_end_epoch: int = 20
    rm_epoch_first: int = 40
    rm_epoch_second: int = 60
    rm_easy_ratio_first: float = 0.1
    rm_easy_ratio_second: float = 0.2

    def __post_init__(self) -> None:
        require(0 < self.init_ratio <= 1, "init_ratio", f"must be in (0, 1], got {self.init_ratio}")
        require(self.add_end_epoch >= 1, "add_end_epoch", f"must be >= 1, got {self.add_end_epoch}")
        require(self.add_end_epoch <= self.rm_epoch_first <= self.rm_epoch_second, "rm_epoch_first",
                "epochs must satisfy add_end_epoch <= rm_epoch_first <= rm_epoch_second, got "
                f"{self.add_end_epoch}, {self.rm_epoch_first}, {self.rm_epoch_second}")
        for name in ("rm_easy_ratio_first", "rm_easy_ratio_second"):
            value = getattr(self, name)
            require(0 <= value < 1, name, f"must be in [0, 1), got {value}")


def keep_range(n: int, epoch: int, cfg: ScheduleConfig) -> tuple[int, int]:
    """[start, stop) of the easy -> hard row of a class with ``n`` samples used in ``epoch``."""
    if not cfg.enabled:
        return 0, n
    if epoch <= cfg.add_end_epoch:
        ratio = min(1.0, cfg.init_ratio + (1.0 - cfg.init_ratio) * epoch / cfg.add_end_epoch)
        return 0, max(1, int(n * ratio))
    if epoch <= cfg.rm_epoch_first:
        return 0, n
    ratio = cfg.rm_easy_ratio_first if epoch <= cfg.rm_epoch_second else cfg.rm_easy_ratio_second
    return min(int(n * ratio), n - 1), n


def epoch_indices(order: list[torch.Tensor], epoch: int, cfg: ScheduleConfig) -> torch.Tensor:
    """Global training indices for ``epoch`` given per-class rows ``order[c]`` (easy first)."""
    parts = []
    for row in order:
        start, stop = keep_range(len(row), epoch, cfg)
        parts.append(row[start:stop])
    return torch.cat(parts)
