"""`dd-tune results`: one table over finished studies, from their report.json files (the end-to-end check on
a finished smoke study is in test_study_e2e.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from factories import acc as _entry

from dd_tune.commands.results import main
from dd_tune.records import IpcResult, StudyResult, TrialRecord
from dd_tune.report.rows import differences, pool_random_real


def _study(name: str, best, default) -> dict:
    reeval = pool_random_real({"best": {"convnet": _entry(best)}, "default": {"convnet": _entry(default)},
                               "random_real_draw1": {"convnet": _entry([50.0, 52.0])},
                               "random_real_draw2": {"convnet": _entry([56.0, 54.0])}})
    ipc = IpcResult(ipc=1, n_trials=4, n_errors=0, n_diverged=0, errors={}, best_val_acc=90.0, best_config={},
                    default_config={}, named_configs={}, reeval=reeval, differences=differences(reeval),
                    config_notes={}, flops={}, best_synset="", best_png="",
                    trials=[TrialRecord(trial="trial_a", config={"lr_img": 0.5}, val_acc=90.0, iteration=100)],
                    plots={}, compute={}, wall_time_s=61.4)
    return StudyResult(study=name, method="dm", dataset="mnist", profile="quick", seed=0, ipc=1, search_space={},
                       reference_defaults={}, by_ipc={"1": ipc}, wall_time_s=62.0, expert_stage={}, protocol="p",
                       final_eval={}, proxy_eval={}, resources={}, study_dir=f"/s/{name}", optuna_db="").to_dict()


@pytest.fixture()
def storage(tmp_path):
    for name, best, default in (("dm_a", [90.0, 91.0], [88.0, 89.0]), ("dm_b", [80.0, 81.0], [82.0, 81.5])):
        (tmp_path / "suite" / name).mkdir(parents=True)
        (tmp_path / "suite" / name / "report.json").write_text(json.dumps(_study(name, best, default)))
    (tmp_path / "suite" / "reeval").mkdir()  # caches and other folders are not studies
    return tmp_path


def test_text_table_over_a_storage_with_a_suite(storage, capsys):
    assert main([str(storage)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["study", "method", "dataset", "profile", "ipc", "arch"]
    assert lines[1].startswith("dm_a ") and "+2.00 [2.00, 2.00]" in lines[1] and "53.00 [" in lines[1]
    assert lines[2].startswith("dm_b ") and "-1.25 [" in lines[2] and len(lines) == 3


def test_csv_and_json_carry_the_intervals(storage, capsys):
    assert main([str(storage / "suite" / "dm_a"), "--format", "csv"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["study"], row["tuned"], row["defaults"], row["trials"]) == ("dm_a", "90.5", "88.5", "4")
    assert float(row["random_real_ci_low"]) < 53.0 < float(row["random_real_ci_high"])
    assert main([str(storage), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["study"] for r in rows] == ["dm_a", "dm_b"] and rows[0]["random_real"]["n"] == 2


@pytest.mark.parametrize("argv, message", [
    (["{t}/nowhere"], "nowhere: no such study, suite or storage directory"),
    (["{t}/empty"], "no finished study (report.json) under"),
    (["{t}/bad"], "is not a dd_tune study report"),
    (["{t}", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
])
def test_bad_paths_are_one_error(argv, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text('{"study": "x"}')
    assert main([a.replace("{t}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_the_top_level_api_returns_typed_results_with_a_flat_frame_and_the_choice(tmp_path):
    """``dd_tune.load_results(path)``: typed StudyResult objects; ``.to_frame()``: one row per study and IPC,
    a column per number (no dict cells); the chosen trial, its confirmation and its configuration."""
    import subprocess
    import sys

    from factories import acc, ipc_result, study_result

    import dd_tune
    from dd_tune.records.study import StudyResult

    default = {"lr_img": 1.0, "iterations": 100, "ipc": 1}
    row = ipc_result(best_config={**default, "lr_img": 0.5}, default_config=default,
                     confirmation={"rows": [{"name": "t03", "mean": 71.234, "chosen": True, "is_default": False}],
                                   "verdict": "t03 is chosen"},
                     reeval={"best": {"convnet": acc([70.0, 72.0])}, "default": {"convnet": acc([66.0, 67.0])}})
    (tmp_path / "s").mkdir()
    report = study_result(by_ipc={"1": row}, study_dir=str(tmp_path / "s"))
    (tmp_path / "s" / "report.json").write_text(json.dumps(report.to_dict(), default=str))
    results = dd_tune.load_results(tmp_path / "s")
    assert isinstance(results[0], StudyResult)
    frame = results.to_frame()
    first = frame.iloc[0].to_dict()
    assert first["tuned"] == 71.0 and first["tuned_n"] == 2 and first["tuned_ci_low"] < 71.0
    assert first["chosen"] == "t03" and first["confirmation"] == 71.23 and first["chosen_config"] == "lr_img=0.5"
    assert not any(isinstance(v, dict) for v in first.values())
    light = subprocess.run([sys.executable, "-c", "import sys, dd_tune; print('torch' in sys.modules)"],
                           capture_output=True, text=True)
    assert light.stdout.strip() == "False"  # the names are imported on first use
