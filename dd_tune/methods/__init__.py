"""Distillation methods; importing this package registers all of them in ``METHODS``."""

from dd_tune.methods import datadam as _datadam  # noqa: F401  (registers "datadam")
from dd_tune.methods import dm as _dm  # noqa: F401  (registers "dm")
from dd_tune.methods import pad as _pad  # noqa: F401  (registers "pad")
from dd_tune.methods import random_real as _random_real  # noqa: F401  (registers "random_real")
from dd_tune.methods.base import METHODS, DistillContext, Distiller, budget_free, build_distiller, expert_pool, init_of

__all__ = ["METHODS", "DistillContext", "Distiller", "budget_free", "build_distiller", "expert_pool", "init_of"]
