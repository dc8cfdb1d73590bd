"""The records room: the one parser and printer of set names, and the typed records' JSON layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dd_tune.base.keys import BEST, DEFAULT, ITERATION, METRIC, RANDOM_REAL, START
from dd_tune.records import IpcResult, SetId, StudyResult, TrialRecord
from dd_tune.records.set_id import is_random_real


@pytest.mark.parametrize("name, factor, draw", [("random_real", 1, None), ("random_real_draw3", 1, 3),
                                                ("random_real_x2", 2, None), ("random_real_x2_draw1", 2, 1),
                                                ("random_real_x12_draw10", 12, 10)])
def test_a_random_real_name_parses_into_factor_and_draw_and_prints_back(name, factor, draw):
    set_id = SetId.parse(name)
    assert (set_id.name, set_id.factor, set_id.draw) == (RANDOM_REAL, factor, draw)
    assert str(set_id) == name and SetId.random_real(factor, draw) == set_id
    assert set_id.is_random_real and set_id.is_draw == (draw is not None)
    assert str(set_id.pooled) == name.split("_draw")[0]


@pytest.mark.parametrize("name", [str(BEST), str(DEFAULT), str(START), "t03", "best_hard_lr0.01", "best_init_noise",
                                  "random_real_x1", "random_real_draw0", "random_real_x2_drawn", "random_reality",
                                  "my_random_real_draw1"])
def test_every_other_name_stays_whole(name):
    set_id = SetId.parse(name)
    assert str(set_id) == name and not set_id.is_random_real and not set_id.is_draw and set_id.pooled == set_id
    assert not is_random_real(name)


def test_impossible_random_real_names_are_refused():
    for factor, draw in ((0, None), (2, 0), (-1, 1)):
        with pytest.raises(ValueError, match="factor >= 1 and draw >= 1"):
            SetId.random_real(factor, draw)


OLD = Path(__file__).parent / "data" / "study_2026-12-07" / "dm_mnist"  # main's records before the records room


def _plain(data: object) -> object:
    return json.loads(json.dumps(data, default=str))


def test_records_written_before_the_records_room_read_back_and_write_the_same_json():
    ipc = json.loads((OLD / "ipc1.json").read_text())
    assert _plain(IpcResult.from_dict(ipc).to_dict()) == ipc
    report = json.loads((OLD / "report.json").read_text())
    assert _plain(StudyResult.from_dict(report).to_dict()) == report


def test_a_trial_record_keeps_the_keys_of_a_trial_report_and_round_trips():
    row = json.loads((OLD / "ipc1.json").read_text())["trials"][0]
    record = TrialRecord.from_json(row)
    assert record.val_acc == row[METRIC] and record.iteration == row[ITERATION] and record.label == "t00"
    assert TrialRecord.from_json(record.to_json()) == record
    # a row of an early version: most keys missing, each takes its neutral value
    early = TrialRecord.from_json({"trial": "trial_1a2b", METRIC: 50.0})
    assert (early.label, early.timing, early.history, early.failures, early.error) == ("trial_1a2b", None, (), 0, None)


def _tables(report_md: str) -> list[str]:
    return [line for line in report_md.splitlines() if line.startswith("|")]


@pytest.mark.slow
def test_a_study_interrupted_under_the_previous_main_resumes_to_the_same_report_tables(tmp_path, data_root):
    storage = tmp_path / "runs"
    shutil.copytree(OLD.parent, storage)
    for name in ("report.json", "report.md"):  # interrupted after its IPC finished, before the report
        (storage / "dm_mnist" / name).unlink()
    done = subprocess.run([sys.executable, "-m", "dd_tune.study", "dm_mnist", "--profile", "smoke", "--resume",
                           "--storage", str(storage), "--data-root", str(data_root)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "finished before the interruption, read back" in done.stdout
    assert _tables((storage / "dm_mnist" / "report.md").read_text()) == _tables((OLD / "report.md").read_text())


def test_no_record_keeps_a_field_of_type_any():
    """Every field of a result record is typed: a record, a Document (JSON values) or plain values."""
    import dataclasses
    import importlib
    import pkgutil

    import dd_tune.records as records

    untyped = []
    for info in pkgutil.iter_modules(records.__path__):
        module = importlib.import_module(f"dd_tune.records.{info.name}")
        for cls in vars(module).values():
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                untyped += [f"{cls.__name__}.{f.name}: {f.type}" for f in dataclasses.fields(cls) if "Any" in str(f.type)]
    assert not untyped, untyped
    assert len([c for c in vars(records).values() if dataclasses.is_dataclass(c)]) >= 20  # the check sees them
