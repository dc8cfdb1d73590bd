"""A suite's full-training-set reference: fresh models trained on the whole training split (or a seeded
subset of it), tested once, beside the distilled rows of the comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from dd_tune.base import seeds
from dd_tune.base.atomic import atomic_write_text
from dd_tune.config import EXPERTS_DIR, StudyConfig, SuiteConfig
from dd_tune.core.evaluation import full_data_accuracy
from dd_tune.core.splits import ClassIndexedData, load_data, load_test
from dd_tune.records.stats import summary


def run_full_data(suite: SuiteConfig, study: StudyConfig, suite_dir: Path, data_root: Path) -> dict[str, Any]:
    """The full-training-set reference of a suite (``full_data``), trained in the driver once the studies
    are done (every core is free then); ``{}`` when the suite has none. Read back on resume."""
    cfg = suite.full_data
    if cfg.epochs <= 0:
        return {}
    path = suite_dir / "full_data.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    data = load_data(study.dataset, data_root, study.data.val_fraction, study.data.split_seed, zca=study.data.zca,
                     zca_dir=suite_dir / EXPERTS_DIR)
    test = load_test(study.dataset, data_root, whitening=data.whitening)
    train = data.train
    if 0 < cfg.max_images < len(train):
        keep = torch.randperm(len(train), generator=seeds.generator(seeds.subset_seed(study.data.split_seed)))
        train = ClassIndexedData(train.images[keep[:cfg.max_images]], train.labels[keep[:cfg.max_images]],
                                 train.num_classes)
    runs = [full_data_accuracy(train, test, study.dataset, study.final_eval, cfg.epochs,
                               seeds.generator(seeds.full_data_seed(study.seed, k)), study.model,
                               lambda line: print(f"[dd_tune] suite: {line}", flush=True))
            for k in range(cfg.models)]
    out = {"convnet": {**summary(runs), "runs": runs}, "epochs": cfg.epochs, "images": len(train)}
    atomic_write_text(path, json.dumps(out, indent=2))
    return out
