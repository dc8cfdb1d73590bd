"""One name per trial everywhere: ``t03``, its Optuna trial number, in its folder (TensorBoard's run name,
with its values: ``t03_lr_img=0.51_batch_real=64``), the console's lines, the report's trial table and
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
MAX_DIR_CHARS = 120  # folder names stay well under file-system limits whatever the values


def record(trial_id: str, number: int) -> None:
    NUMBERS[trial_id] = int(number)


def console_name(trial_id: str) -> str:
    """The console's name of a trial: ``t03`` when its number is known, else ``trial <id>``."""
    number = NUMBERS.get(trial_id)
    return trial_label(number) if number is not None else f"trial {trial_id}"


def dir_name(trial_id: str, config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The trial's folder: ``t03_lr_img=0.51_batch_real=64`` (the searched values, 2 significant digits,
    characters a path and TensorBoard take as they are), or ``trial_<id>`` without a number."""
    number = NUMBERS.get(trial_id)
    if number is None:
        return f"trial_{trial_id}"
    values = "_".join(f"{k}={'' if config[k] == '' else fmt_value(config[k], 2)}" for k in keys
                      if k in config and not isinstance(config[k], Mapping))
    name = re.sub(r"[^A-Za-z0-9_.=+-]", "-", f"{trial_label(number)}_{values}" if values else trial_label(number))
    return name[:MAX_DIR_CHARS]


def number_of_dir(name: str) -> int | None:
    """The Optuna number in a trial folder's name (``t03_...`` -> 3), None for ``trial_<id>`` folders."""
    match = re.match(r"t(\d+)(_|$)", name)
    return int(match.group(1)) if match else None


def dirname_creator(keys: Sequence[str]) -> Any:
    """Tune's ``trial_dirname_creator`` for a search over ``keys`` (a partial: Tune pickles it)."""
    return functools.partial(_trial_dir, keys=tuple(keys))


def _trial_dir(trial: Any, keys: tuple[str, ...]) -> str:
    return dir_name(trial.trial_id, dict(trial.config or {}), keys)


def short_name(folder: str) -> str:
    """A trial as tables, plots and the console name it: ``t03`` for ``t03_lr_img=...``; a folder of a
    search without Optuna numbers (``trial_<id>``) as it is."""
    number = number_of_dir(folder)
    return trial_label(number) if number is not None else folder


def result_name(result: Any) -> str:
    """The short name of a trial of a Tune result grid (see :func:`short_name`)."""
    return short_name(str(result.path).rsplit("/", 1)[-1])
