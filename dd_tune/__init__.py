"""dd_tune: hyperparameter studies for dataset distillation.

The package is a stack of rooms, one folder each, whose imports only point down (docs/architecture.md;
checked by tests/test_architecture.py): base (errors, registry, seeds, content keys, atomic writes, result
keys) < config < core (datasets and splits, models, augmentation, the synthetic set, training, evaluation)
< experts < methods < report < search (one IPC's Ray Tune + Optuna search) < tune (the orchestration) <
commands < the entry shims at the top level (``python -m dd_tune.study`` and friends, ``dd-tune``).
"""

__version__ = "0.1.0"
