"""dd_tune: hyperparameter studies for dataset distillation.

The package is a stack of rooms, one folder each, whose imports only point down (docs/architecture.md;
checked by tests/test_architecture.py): base (errors, registry, seeds, content keys, atomic writes, result
keys) < config < core (datasets and splits, models, augmentation, the synthetic set, training, evaluation)
< experts < methods < report < search (one IPC's Ray Tune + Optuna search) < tune (the orchestration) <
commands < the entry shims at the top level (``python -m dd_tune.study`` and friends, ``dd-tune``).
"""

from typing import Any

__version__ = "0.1.0"

_API = {"load_results": "dd_tune.report.catalog", "trials_frame": "dd_tune.report.catalog"}


def __getattr__(name: str) -> Any:
    """``dd_tune.load_results(path)`` (finished studies, typed, ``.to_frame()``) and
    ``dd_tune.trials_frame(result)``, imported on first use so that ``import dd_tune`` stays light."""
    if name not in _API:
        raise AttributeError(f"module 'dd_tune' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_API[name]), name)
