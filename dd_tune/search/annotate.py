"""What the study decided, written back into its Optuna study, so that optuna-dashboard (and ``optuna
trials``) show it beside the search: the objective's name instead of "Objective 0", and on each trial its
role (``dd_tune_role``: defaults, chosen, finalist) with the finalists' confirmation and test accuracies.

optuna-dashboard's "Best Trial" stays the best proxy score (Optuna's own notion); the study's user
attribute ``dd_tune_chosen`` names the trial dd_tune chose after confirming its finalists.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from pathlib import Path

from dd_tune.records import IpcResult
from dd_tune.search.board_view import FINAL, final_metrics, roles_of
from dd_tune.search.trial_names import number_of_dir

METRIC_NAMES = ["proxy validation accuracy (%)", "synthetic images"]  # the second when IPC is searched
ROLE_ATTR = "dd_tune_role"
CHOSEN_ATTR = "dd_tune_chosen"


def annotate_optuna(db: Path, name: str, result: IpcResult) -> None:
    """Name the objectives and mark the roles and final accuracies of ``result``'s trials in the Optuna
    study ``name`` of ``db`` (set again, with the same values, when a study is resumed)."""
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    with warnings.catch_warnings():  # "set_metric_names is experimental": it has not changed since Optuna 3.2
        warnings.simplefilter("ignore")
        study.set_metric_names(METRIC_NAMES[:len(study.directions)])
    ids = {t.number: t._trial_id for t in study.get_trials(deepcopy=False)}
    metrics = final_metrics(result)
    marks: dict[int, dict[str, object]] = {}
    for label, roles in roles_of(result).items():
        number = number_of_dir(label)
        if number in ids:
            values = {"dd_tune_" + tag.removeprefix(FINAL).replace("/", "_"): round(value, 4)
                      for tag, value in metrics.get(label, {}).items()}  # dd_tune_confirm_acc, dd_tune_test_acc_convnet
            marks[ids[number]] = {ROLE_ATTR: " ".join(roles), **values}
            if "chosen" in roles:
                study.set_user_attr(CHOSEN_ATTR, label)
    _set_finished_trial_attrs(db, marks)


def _set_finished_trial_attrs(db: Path, marks: dict[int, dict[str, object]]) -> None:
    """Optuna refuses attributes on finished trials through its API; the study is dd_tune's own file, so
    the rows go into its trial attribute table directly (Optuna's RDB schema, the same in Optuna 3 to 5),
    in one transaction."""
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        for trial_id, attrs in marks.items():
            for key, value in attrs.items():
                con.execute("DELETE FROM trial_user_attributes WHERE trial_id = ? AND key = ?", (trial_id, key))
                con.execute("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, ?, ?)",
                            (trial_id, key, json.dumps(value)))
