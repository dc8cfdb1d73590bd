"""dd_tune: hyperparameter studies for dataset distillation.

The package is a stack of rooms whose imports only point down (docs/architecture.md; checked by
tests/test_architecture.py): base (errors, registry, seeds, files) < config < tensors (datasets, data,
models, augment, synset, training) < evaluation < experts < methods < report < tune (the only room that
imports Ray) < commands < the entry points (``python -m dd_tune.study`` and friends, ``dd-tune``).
"""

__version__ = "0.1.0"
