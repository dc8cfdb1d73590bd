"""dd_tune: hyperparameter studies for dataset distillation.

Layers (dependencies point one way):
config/registry -> data/models/augment -> methods -> evaluate -> trainable -> study/report.
Nothing below ``trainable`` imports Ray, so methods can be used and tested without a cluster.
"""

__version__ = "0.1.0"
