"""TensorBoard's view of a finished search, ``<study>/board/``: the trials compared once the study knows
which of them won (``tensorboard --logdir <study>/board``).

While the search runs, each trial is a run of its own folder (``ipc1/t03_lr_img=0.51_factor=2``: how it
differs from the reference defaults). Once an IPC's test pass is over, this module writes, per trial, a run
``board/ipc1/t03 chosen lr_img=0.51 factor=2``:

* its name: the trial number, its roles (``defaults``, ``chosen``, ``finalist``), then only the values that
  vary among the study's trials, most important first (the report's importance ranking), at most
  ``MAX_NAME`` characters;
* links to the trial's own event files (its curves and its set's pictures; nothing is copied);
* a small event file of its own with the HParams session (the searched values with their types, the role)
  and, for the finalists, the confirmation and test accuracies as scalars, which the HParams table shows
  as metric columns.

``board/`` itself holds the HParams experiment: the columns in importance order (role first), the
discrete choices of every categorical parameter, and the metrics (proxy, confirmation, test per
architecture). ``board/test`` links the test pass's run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from dd_tune.base.keys import BEST, DEFAULT, METRIC
from dd_tune.records import IpcResult
from dd_tune.report.tables import fmt_value
from dd_tune.search.trial_names import short_name

BOARD = "board"
MAX_NAME = 60  # characters of a run name TensorBoard's run list shows
ROLES = ("defaults", "chosen", "finalist")
FINAL = "final/"  # TensorBoard's card group of the one-point final accuracies, apart from the curves
CONFIRM_TAG = FINAL + "confirm_acc"  # the finalists' confirmation accuracy (the proxy architecture, fresh models)
TEST_TAG = FINAL + "test_acc"  # final/test_acc/<arch>: the test pass's accuracy (mean over fresh models)
COLUMNS_FILE = "columns.json"  # board/: parameter -> its HParams column, the same for every IPC
EXPERIMENT_SUFFIX = ".experiment"  # board/'s event file with the HParams experiment (columns and metrics)
ROLE = "00 role"  # the HParams column of a trial's roles, first
SESSION_SUFFIX = ".hparams"  # a trial folder's HParams file (dd_tune.search.board): not linked, replaced here
DATASET_DSA = "dataset"  # how dsa_strategy "" reads: the dataset's own DSA operations


def column(rank: int, key: str) -> str:
    """A parameter's HParams column, ``01 lr_img``: TensorBoard orders the columns by name, so the rank
    (1 = most important) leads."""
    return f"{rank:02d} {key}"


def varying(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys whose values differ among ``configs``, in first-seen order."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def by_importance(keys: Sequence[str], importances: Mapping[str, float]) -> list[str]:
    """``keys`` most important first; those without an importance after them, in their order."""
    ranked = sorted((k for k in keys if k in importances), key=lambda k: -importances[k])
    return ranked + [k for k in keys if k not in importances]


def shown(key: str, value: Any) -> Any:
    """A value as HParams takes it, with its type kept: numbers as numbers, ``None`` as "off" and the
    empty DSA strategy as the dataset's."""
    if value is None:
        return "off"
    if key == "dsa_strategy" and value == "":
        return DATASET_DSA
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def run_name(label: str, roles: Sequence[str], config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``t03 chosen lr_img=0.51 factor=2``: whole ``key=value`` parts while they fit in ``MAX_NAME``."""
    name = " ".join([label, *roles])
    for key in keys:
        if key not in config or isinstance(config[key], Mapping):
            continue
        part = f"{key}={fmt_value(shown(key, config[key]), 3)}"
        if len(name) + 1 + len(part) > MAX_NAME:
            break
        name += " " + part
    return name.replace("/", "-")


def roles_of(result: IpcResult) -> dict[str, list[str]]:
    """Trial label -> its roles: the reference defaults' trial, the chosen one, the other finalists."""
    out: dict[str, list[str]] = {}
    for row in result.trials:
        if row.is_defaults_of(result.default_config):
            out.setdefault(row.trial, []).append("defaults")
    for finalist in result.confirmation.rows if result.confirmation else ():
        out.setdefault(finalist.name, []).append("chosen" if finalist.chosen else "finalist")
    return out


def final_metrics(result: IpcResult) -> dict[str, dict[str, float]]:
    """Trial label -> its confirmation and test accuracies (the finalists; every architecture for the
    chosen trial and the defaults' trial)."""
    out: dict[str, dict[str, float]] = {}
    conf, fid = result.confirmation, result.fidelity
    arch = conf.arch if conf else "convnet"
    for finalist in conf.rows if conf else ():
        out.setdefault(finalist.name, {})[CONFIRM_TAG] = finalist.mean
    for name, test in zip(fid.sets, fid.test) if fid else ():
        if test is not None and math.isfinite(test):
            out.setdefault(name, {})[f"{TEST_TAG}/{arch}"] = float(test)
    for label, roles in roles_of(result).items():
        row_name = BEST if "chosen" in roles else DEFAULT if "defaults" in roles else None
        for a, entry in (result.reeval.get(row_name, {}) if row_name else {}).items():
            if math.isfinite(entry.mean):
                out.setdefault(label, {})[f"{TEST_TAG}/{a}"] = float(entry.mean)
    return out


def write_board_view(study_dir: Path, ipc: int, result: IpcResult, importances: Mapping[str, float]) -> Path:
    """Write ``<study>/board/ipc<ipc>/`` for ``result`` (replacing the one an earlier run of this study
    wrote) and the experiment at ``<study>/board``; returns the board folder."""
    from torch.utils.tensorboard.summary import hparams

    board = study_dir / BOARD
    view = board / f"ipc{ipc}"
    if view.is_dir():
        shutil.rmtree(view)  # this study's own view of this IPC, from an earlier run (a resume)
    view.mkdir(parents=True)
    folders = {short_name(p.name): p for p in (study_dir / f"ipc{ipc}").iterdir() if p.is_dir()}
    rows = [r for r in result.trials if r.trial in folders and r.config]
    keys = by_importance(varying([r.config for r in rows]), importances)
    roles, metrics = roles_of(result), final_metrics(result)
    metric_tags = [METRIC, CONFIRM_TAG] + sorted({t for m in metrics.values() for t in m if t != CONFIRM_TAG})
    columns = _columns(board, keys)
    typed = {k: _kind([r.config.get(k) for r in rows], k) for k in keys}
    for row in rows:
        label = row.trial
        run = view / run_name(label, roles.get(label, []), row.config, keys)
        run.mkdir()
        for events in sorted(folders[label].glob("events.out.tfevents.*")):
            if not events.name.endswith(SESSION_SUFFIX):
                os.symlink(os.path.relpath(events, run), run / events.name)
        values = {ROLE: " ".join(roles.get(label, [])) or "trial",
                  **{columns[k]: typed[k](row.config.get(k)) for k in keys}}
        _, start, end = hparams(values, {t: 0.0 for t in metric_tags})
        _write(run, [start, end], metrics.get(label, {}), row.iteration or 0)
    first = {ROLE: "trial", **{columns[k]: typed[k](rows[0].config.get(k)) for k in keys}} if rows else {}
    domains = {columns[k]: sorted({typed[k](r.config.get(k)) for r in rows}, key=_natural) for k in keys
               if isinstance(first[columns[k]], str)}
    experiment, _, _ = hparams(first, {t: 0.0 for t in metric_tags}, {ROLE: ["trial", *ROLES], **domains})
    for old in board.glob(f"events.out.tfevents.*{EXPERIMENT_SUFFIX}"):  # TensorBoard reads the first one only
        old.unlink()
    _write(board, [experiment], {}, 0, suffix=EXPERIMENT_SUFFIX)
    if (study_dir / "test").is_dir() and not (board / "test").exists():
        os.symlink(os.path.relpath(study_dir / "test", board), board / "test")
    return board


def _columns(board: Path, keys: Sequence[str]) -> dict[str, str]:
    """Each parameter's column name (:func:`column`). TensorBoard shows one experiment for the whole
    board, so the first IPC written fixes the ranks (in ``columns.json``) and later IPCs keep them; a
    parameter that only a later IPC varies gets the next free rank."""
    path = board / COLUMNS_FILE
    known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    for key in keys:
        known.setdefault(key, column(len(known) + 1, key))
    path.write_text(json.dumps(known, indent=1))
    return {k: known[k] for k in keys}


def _kind(values: Sequence[Any], key: str) -> Any:
    """How a parameter's values go into HParams, the same type for every trial: real numbers as numbers
    (its filter is an interval), anything else (whole numbers, choices, flags) as text, so that
    ``batch_real`` reads 64, not 64.000, and filters by check boxes."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) \
            and any(isinstance(v, float) for v in values):
        return float
    return lambda v: fmt_value(shown(key, v)) if not isinstance(shown(key, v), str) else shown(key, v)


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key that puts "8" before "16" and text after numbers."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _write(folder: Path, summaries: Sequence[Any], scalars: Mapping[str, float], step: int,
           suffix: str = ".dd_tune") -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder), filename_suffix=suffix)
    try:
        for summary in summaries:
            writer._get_file_writer().add_summary(summary)
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, global_step=step)
    finally:
        writer.close()
