"""Shared fixtures: real MNIST copied from ../shared/datasets, a session-wide local Ray instance."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# Before Ray is imported anywhere: quiet local instances, with Ray's token authentication on (as
# dd_tune runs them).
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
os.environ.pop("RAY_ADDRESS", None)

REPO = Path(__file__).resolve().parents[1]
# bench/ holds the reference implementations the equivalence tests compare against (the authors' loops,
# K-at-once training): code of the tests and benchmarks, not of the product
sys.path.insert(0, str(REPO / "bench"))
SHARED_DATASETS = Path(os.environ.get("DD_TUNE_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the offline MNIST/FashionMNIST files (never write into ../shared)."""
    if not (SHARED_DATASETS / "MNIST" / "raw").is_dir():
        pytest.fail(f"offline datasets not found at {SHARED_DATASETS} (set DD_TUNE_SHARED_DATASETS)")
    root = tmp_path_factory.mktemp("data")
    for name in ("MNIST", "FashionMNIST"):
        shutil.copytree(SHARED_DATASETS / name / "raw", root / name / "raw")
    return root


@pytest.fixture(scope="session")
def mnist(data_root: Path):
    from dd_tune.core.splits import load_data

    return load_data("mnist", data_root, 0.1, 0, with_test=True)


@pytest.fixture(scope="session")
def ray_session():
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, object_store_memory=200 * 1024**2,
             log_to_driver=False)
    yield ray
    ray.shutdown()
