"""A finished IPC in its study folder: ``ipc<N>.json`` (what a resume reads back instead of running the IPC
again), the test pass's and the trials' TensorBoard runs, and the decision written into its Optuna study."""

from __future__ import annotations

import json
from pathlib import Path

from dd_tune.config import StudyConfig
from dd_tune.records import IpcResult
from dd_tune.report.stored import load_ipc_result, moved_here
from dd_tune.search.annotate import annotate_optuna
from dd_tune.search.board import write_test_board
from dd_tune.search.board_view import write_board_view
from dd_tune.search.tuner import optuna_name


def done_file(study_dir: Path, ipc: int) -> Path:
    return study_dir / f"ipc{ipc}.json"


def read_back(study_dir: Path, ipc: int) -> IpcResult | None:
    """The IPC's record when it finished before an interruption (its paths moved into ``study_dir``)."""
    path = done_file(study_dir, ipc)
    if not path.exists():
        return None
    print(f"[dd_tune] IPC {ipc}: finished before the interruption, read back", flush=True)
    return moved_here(load_ipc_result(path), study_dir)


def keep(result: IpcResult, study: StudyConfig, study_dir: Path, ipc: int, protocol: str) -> None:
    """Write what a finished IPC leaves in its study folder; its record last (a resume trusts it)."""
    write_test_board(study_dir, result.ipc, result.reeval, result.best_config, protocol)
    write_board_view(study_dir, ipc, result, result.plots.importances)
    annotate_optuna(study_dir / "optuna.db", optuna_name(study, ipc), result)
    done_file(study_dir, ipc).write_text(json.dumps(result.to_dict(), indent=2, default=str))
