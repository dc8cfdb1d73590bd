"""PAD's data scheduler on a toy dataset with unequal classes, against the table in docs/methods.md §4.2."""

from __future__ import annotations

import pytest
import torch

from dd_tune.base.errors import ConfigError
from dd_tune.config.schema import build
from dd_tune.experts.schedule import ScheduleConfig, epoch_indices, keep_range

# class 0: 10 samples (global 100..109, easy -> hard); class 1: 4 samples (7, 3, 9, 1)
ORDER = [torch.arange(100, 110), torch.tensor([7, 3, 9, 1])]
CFG = ScheduleConfig(init_ratio=0.5, add_end_epoch=4, rm_epoch_first=6, rm_epoch_second=8,
                     rm_easy_ratio_first=0.2, rm_easy_ratio_second=0.5)


@pytest.mark.parametrize(
    "epoch, expected",
    [
        (0, list(range(100, 105)) + [7, 3]),  # 50 % of each class
        (2, list(range(100, 107)) + [7, 3, 9]),  # 75 %: int(10 * .75) = 7, int(4 * .75) = 3
        (4, list(range(100, 110)) + [7, 3, 9, 1]),  # 100 % at add_end_epoch
        (6, list(range(100, 110)) + [7, 3, 9, 1]),  # all data until rm_epoch_first
        (7, list(range(102, 110)) + [7, 3, 9, 1]),  # drop the easiest 20 %: 2 of 10, int(0.8) = 0 of 4
        (9, list(range(105, 110)) + [9, 1]),  # drop easiest 50 %
    ],
)
def test_per_epoch_index_sets(epoch, expected):
    assert epoch_indices(ORDER, epoch, CFG).tolist() == expected


def test_schedule_off_uses_everything_every_epoch():
    off = ScheduleConfig(enabled=False)
    for epoch in (0, 10, 100):
        assert epoch_indices(ORDER, epoch, off).tolist() == list(range(100, 110)) + [7, 3, 9, 1]


def test_pad_readme_values_on_unequal_mnist_sized_classes():
    cfg = ScheduleConfig()  # 0.75, 20, 40, 60, 0.1, 0.2
    assert keep_range(5923, 0, cfg) == (0, 4442)
    assert keep_range(5923, 20, cfg) == (0, 5923)
    assert keep_range(6742, 41, cfg) == (674, 6742)
    assert keep_range(6742, 99, cfg) == (1348, 6742)
    assert keep_range(500, 61, cfg) == (100, 500)  # CIFAR-100 sized class keeps 400, never empty


def test_impossible_schedules_are_refused():
    with pytest.raises(ConfigError, match="add_end_epoch <= rm_epoch_first <= rm_epoch_second"):
        build(ScheduleConfig, {"add_end_epoch": 50, "rm_epoch_first": 40}, "schedule", "t.yaml")
    with pytest.raises(ConfigError, match="'schedule.rm_easy_ratio_first' must be in \\[0, 1\\)"):
        build(ScheduleConfig, {"rm_easy_ratio_first": 1.0}, "schedule", "t.yaml")


def test_progress_lines_name_the_trial_its_values_its_result_and_the_eta(monkeypatch):
    import dd_tune.search.progress as progress

    clock = iter([1000.0, 1060.0, 1080.0, 1100.0, 1120.0])
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    monkeypatch.setattr(progress, "console_name", lambda trial_id: {"a1": "t00", "b2": "t01"}[trial_id])
    lines = progress.ProgressLines(4, ["batch_real", "lr_img"], ipc=1)
    assert lines.started("a1", {"lr_img": 0.51281053, "batch_real": 64, "other": 1}) == \
        "[dd_tune] IPC 1 t00 started (1 of 4): batch_real=64 lr_img=0.513"
    lines.started("b2", {"lr_img": 2.0, "batch_real": 32})
    first = lines.finished("b2", {"val_acc": 88.5, "it": 50}, done=1, max_it=100)
    assert first == ("[dd_tune] IPC 1 t01 finished: proxy val acc 88.50 % at iteration 50 (stopped early by "
                     "ASHA); 1/4 done, 1:00 elapsed, about 3:00 left")
    # a trial whose own budget (150) is below the space's largest (200) ran to its end: not stopped
    full = lines.finished("b2", {"val_acc": 82.8, "it": 150, "reached_budget": 1}, done=2, max_it=200)
    assert "at iteration 150; 2/4 done" in full
    assert "stopped early" in lines.finished("b2", {"val_acc": 80.0, "it": 100, "reached_budget": 0}, done=3, max_it=200)
    last = lines.finished("a1", {}, done=4, max_it=100, error="ValueError: boom")
    assert last == "[dd_tune] IPC 1 t00 finished: failed (ValueError: boom); 4/4 done, 2:00 elapsed"


def test_one_name_per_trial_from_its_optuna_number():
    """Folder (TensorBoard's run), console and report: t03 and the searched values; Ray's id without a number."""
    from dd_tune.search import trial_names

    trial_names.record("abc_00003", 3)
    config = {"lr_img": 0.51281053, "batch_real": 64, "selection": {"pool": 2}, "init": "k/centre"}
    name = trial_names.dir_name("abc_00003", config, ["batch_real", "init", "lr_img", "selection"])
    assert name == "t03_batch_real=64_init=k-centre_lr_img=0.513"
    assert trial_names.number_of_dir(name) == 3 and trial_names.number_of_dir("trial_abc_00004") is None
    assert trial_names.dir_name("zzz_00009", config, ["lr_img"]) == "trial_zzz_00009"
    assert trial_names.console_name("abc_00003") == "t03" and trial_names.console_name("zzz") == "trial zzz"
    assert trial_names.dir_name("abc_00003", {"k": "x" * 500}, ["k"]) == "t03"  # whole parts only
    long = {f"key{i}": 0.123456 * i for i in range(20)}
    name = trial_names.dir_name("abc_00003", long, list(long))
    assert len(name) <= trial_names.MAX_DIR_CHARS == 60 and name.startswith("t03_key0=0_key1=0.123_")
    # with the reference defaults: only how the trial differs, in the space's order; the defaults' own trial
    default = {"lr_img": 1.0, "factor": 1, "init": "real", "batch_real": 64}
    differs = {**default, "lr_img": 0.51281053, "factor": 2}
    assert trial_names.dir_name("abc_00003", differs, list(default), default) == "t03_lr_img=0.513_factor=2"
    assert trial_names.dir_name("abc_00003", dict(default), list(default), default) == "t03_defaults"
    assert trial_names.dir_name("abc_00003", {"dsa_strategy": ""}, ["dsa_strategy"]) == "t03_dsa_strategy="
    assert trial_names.short_name(name) == "t03" and trial_names.short_name("trial_abc_00004") == "trial_abc_00004"


def test_ray_tune_tables_only_with_verbose(monkeypatch):
    from dd_tune.search.progress import VERBOSE_ENV, tune_verbosity

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    assert tune_verbosity() == 0
    monkeypatch.setenv(VERBOSE_ENV, "1")
    assert tune_verbosity() == 1


def test_the_progress_callback_counts_the_trial_it_is_told_about(capsys):
    """Ray calls on_trial_complete before it marks the trial finished: the count includes it."""
    from types import SimpleNamespace

    from dd_tune.search.progress import progress_callback

    cb = progress_callback(2, ["lr_img"], ipc=1, max_it=100)
    cb.setup()
    a = SimpleNamespace(trial_id="a", status="TERMINATED", config={"lr_img": 1.0},
                        last_result={"val_acc": 80.0, "it": 100})
    b = SimpleNamespace(trial_id="b", status="RUNNING", config={"lr_img": 2.0},
                        last_result={"val_acc": 85.0, "it": 100})
    cb.on_trial_start(0, [a, b], a)
    cb.on_trial_start(0, [a, b], b)
    cb.on_trial_complete(0, [a, b], b)
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("trial a started (1 of 2): lr_img=1") and "trial b finished: proxy val acc 85.00 %" in out[2]
    assert "2/2 done" in out[2] and "left" not in out[2]
