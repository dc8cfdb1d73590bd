"""One name per trial everywhere: ``t03``, its Optuna trial number, in its folder (TensorBoard's run name,
with the values in which it differs from the reference defaults: ``t03_lr_img=0.51_factor=2``), the
console's lines, the report's trial table and
the plots. The searcher records each trial's number when it suggests the trial's config, in the driver,
before Tune creates the trial's folder. Trials of a search without Optuna keep Ray's id
(``trial_<id>``)."""

from __future__ import annotations

import functools
import re
from typing import Any, Mapping, Sequence

from dd_tune.base.keys import trial_label
from dd_tune.report.tables import fmt_value

NUMBERS: dict[str, int] = {}  # Ray trial id -> Optuna trial number, for the searches of this driver
MAX_DIR_CHARS = 60  # TensorBoard's run list shows about this much of a name


def record(trial_id: str, number: int) -> None:
    NUMBERS[trial_id] = int(number)


def console_name(trial_id: str) -> str:
    """The console's name of a trial: ``t03`` when its number is known, else ``trial <id>``."""
    number = NUMBERS.get(trial_id)
    return trial_label(number) if number is not None else f"trial {trial_id}"


def dir_name(trial_id: str, config: Mapping[str, Any], keys: Sequence[str],
             default: Mapping[str, Any] | None = None) -> str:
    """The trial's folder: ``t03_lr_img=0.51_factor=2``: its number, then the values of ``keys`` in that
    order (the search space's, most important first) that differ from ``default`` (the reference defaults;
    every value when None), 3 significant digits (100, not 1e+02), as many whole ``key=value`` parts as fit in
    ``MAX_DIR_CHARS``; ``t00_defaults`` for the defaults' trial; ``trial_<id>`` without a number."""
    number = NUMBERS.get(trial_id)
    if number is None:
        return f"trial_{trial_id}"
    parts = [f"{k}={'' if config[k] == '' else fmt_value(config[k], 3)}" for k in keys
             if k in config and not isinstance(config[k], Mapping)
             and (default is None or k not in default or config[k] != default[k])]
    if default is not None and not parts:
        parts = ["defaults"]
    name = trial_label(number)
    for part in parts:
        if len(name) + 1 + len(part) > MAX_DIR_CHARS:
            break
        name += "_" + part
    return re.sub(r"[^A-Za-z0-9_.=+-]", "-", name)


def number_of_dir(name: str) -> int | None:
    """The Optuna number in a trial folder's name (``t03_...`` -> 3), None for ``trial_<id>`` folders."""
    match = re.match(r"t(\d+)(_|$)", name)
    return int(match.group(1)) if match else None


def dirname_creator(keys: Sequence[str], default: Mapping[str, Any] | None = None) -> Any:
    """Tune's ``trial_dirname_creator`` for a search over ``keys`` (a partial: Tune pickles it)."""
    return functools.partial(_trial_dir, keys=tuple(keys), default=dict(default) if default is not None else None)


def _trial_dir(trial: Any, keys: tuple[str, ...], default: dict[str, Any] | None = None) -> str:
    return dir_name(trial.trial_id, dict(trial.config or {}), keys, default)


def short_name(folder: str) -> str:
    """A trial as tables, plots and the console name it: ``t03`` for ``t03_lr_img=...``; a folder of a
    search without Optuna numbers (``trial_<id>``) as it is."""
    number = number_of_dir(folder)
    return trial_label(number) if number is not None else folder


def result_name(result: Any) -> str:
    """The short name of a trial of a Tune result grid (see :func:`short_name`)."""
    return short_name(str(result.path).rsplit("/", 1)[-1])
