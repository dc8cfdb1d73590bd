"""TensorBoard layout: which result keys become curves and under which names (the e2e smoke study checks
the runs, steps and HParams on disk)."""

from __future__ import annotations

import math

from dd_tune.search.board import scalar_tags


def test_curves_are_the_reported_metrics_under_plain_names():
    result = {"val_acc": 81.5, "val_acc_std": 0.4, "loss": 2.5, "skipped_threshold": 3, "matching_loss_min": 0.97,
              "distill_s": 4.0, "eval_s": 1.5, "diverged": 0,
              # bookkeeping: where, when, how big, Ray's counters
              "it": 100, "ipc": 1, "images": 10, "reported_at": 1.7e9, "elapsed_s": 9.0, "setup_s": 0.5,
              "resumed_from": 0, "node_id": "abc", "training_iteration": 2, "time_total_s": 9.1, "done": False,
              "trial_id": "x1", "pid": 42, "config": {"lr_img": 1.0}, "should_checkpoint": True}
    assert scalar_tags(result) == {"val_acc": 81.5, "val_acc_std": 0.4, "loss": 2.5, "skipped_threshold": 3.0,
                                   "matching_loss_min": 0.97, "time/distill_s": 4.0, "time/eval_s": 1.5}


def test_non_finite_and_non_numeric_values_are_left_out():
    tags = scalar_tags({"val_acc": 0.0, "loss": math.nan, "matching_loss_min": math.inf, "note": "x", "flag": True})
    assert tags == {"val_acc": 0.0}


def test_each_trials_text_gives_its_values_and_marks_the_defaults():
    from dd_tune.search.board import trial_text

    default = {"lr_img": 1.0, "init": "real"}
    assert trial_text({"init": "real", "lr_img": 1.0}, default) == "reference defaults: init=real lr_img=1"
    assert trial_text({"init": "herding", "lr_img": 0.07}, default) == "init=herding lr_img=0.07"
    # rounded as in the report and the console, not Python's 17 digits
    assert trial_text({"lr_img": 0.5128105306245637}, default) == "lr_img=0.5128"


def test_tensorboards_page_lists_one_run_per_trial_by_number_and_the_test_pass(tmp_path):
    """What a browser shows, read from TensorBoard's own server: the study's layout (trial folders named by
    search.trial_names, the test pass written by write_test_board) gives one run per trial, named t00_...,
    with the report's tag names, and the test run."""
    from factories import acc
    from tb_server import served
    from torch.utils.tensorboard import SummaryWriter

    from dd_tune.search import trial_names
    from dd_tune.search.board import write_test_board

    names = []
    for number, lr in enumerate((1.0, 0.5128)):
        trial_names.record(f"id_{number}", number)
        names.append(trial_names.dir_name(f"id_{number}", {"lr_img": lr, "batch_real": 64}, ["batch_real", "lr_img"]))
        writer = SummaryWriter(str(tmp_path / "ipc1" / names[-1]))
        for it, tags in ((50, {"val_acc": 80.0 + number}), (100, {"val_acc": 85.0, "time/distill_s": 3.0})):
            for tag, value in tags.items():
                writer.add_scalar(tag, value, global_step=it)
        writer.close()
    write_test_board(tmp_path, 1, {"best": {"convnet": acc([91.0])}, "default": {"convnet": acc([88.0])}})
    page = served(tmp_path, expect_runs=3)
    assert page["runs"] == ["ipc1/t00_batch_real=64_lr_img=1", "ipc1/t01_batch_real=64_lr_img=0.513", "test"]
    assert page["scalars"]["ipc1/t01_batch_real=64_lr_img=0.513"] == ["time/distill_s", "val_acc"]
    assert page["scalars"]["test"] == ["test_acc/convnet/best", "test_acc/convnet/default"]


def test_the_board_view_names_runs_by_role_and_varying_values_and_shows_typed_hparams_and_final_metrics(tmp_path):
    """board/ as TensorBoard serves it: a run per trial named by number, role and the values that vary (most
    important first); HParams columns role first, then by importance, whole numbers and choices as text,
    real numbers as numbers; the finalists' confirmation and test accuracies as metric columns; the set as
    one image whose width holds every class."""
    import numpy as np
    from factories import acc, ipc_result
    from tb_server import served
    from torch.utils.tensorboard import SummaryWriter

    from dd_tune.search.board_view import MAX_NAME, write_board_view

    default = {"lr_img": 1.0, "batch_real": 64, "dsa_strategy": "", "net_width": 128}
    configs = {"t00": default, "t01": {**default, "lr_img": 0.5128, "batch_real": 128},
               "t02": {**default, "lr_img": 3.3, "dsa_strategy": "color_crop"}}
    for number, (label, config) in enumerate(configs.items()):
        writer = SummaryWriter(str(tmp_path / "ipc1" / f"{label}_x"))
        writer.add_scalar("val_acc", 60.0 + number, global_step=4)
        writer.add_image("synset", np.zeros((20, 300, 3), dtype=np.uint8), 4, dataformats="HWC")
        writer.close()
    rows = [{"trial": label, "config": config, "val_acc": 60.0 + i, "it": 4} for i, (label, config) in
            enumerate(configs.items())]
    confirmation = {"arch": "convnet", "rows": [{"name": "t01", "mean": 70.0, "chosen": True},
                                                {"name": "t00", "mean": 65.0, "chosen": False}]}
    result = ipc_result(trials=rows, default_config={**default, "ipc": 1}, confirmation=confirmation,
                        fidelity={"sets": ["t01", "t00"], "test": [71.0, 66.0]},
                        reeval={"best": {"convnet": acc([71.0, 71.0]), "lenet": acc([50.0])},
                                "default": {"convnet": acc([66.0])}})
    write_board_view(tmp_path, 1, result, {"batch_real": 0.2, "lr_img": 0.7, "dsa_strategy": 0.1})
    page = served(tmp_path / "board", expect_runs=4)
    t00, t01 = "ipc1/t00 defaults finalist lr_img=1 batch_real=64", "ipc1/t01 chosen lr_img=0.513 batch_real=128"
    t02 = "ipc1/t02 lr_img=3.3 batch_real=64 dsa_strategy=color_crop"
    assert page["runs"] == [".", t00, t01 + " dsa_strategy=dataset", t02]  # t00: the next part would pass 60
    assert all(len(run.split("/", 1)[-1]) <= MAX_NAME for run in page["runs"])
    assert page["hparams"] == ["00 role", "01 lr_img", "02 batch_real", "03 dsa_strategy"]  # net_width: constant
    assert page["types"] == {"00 role": "DATA_TYPE_STRING", "01 lr_img": "DATA_TYPE_FLOAT64",
                             "02 batch_real": "DATA_TYPE_STRING", "03 dsa_strategy": "DATA_TYPE_STRING"}
    assert page["metrics"] == ["val_acc", "final/confirm_acc", "final/test_acc/convnet", "final/test_acc/lenet"]
    chosen = page["sessions"][t01 + " dsa_strategy=dataset"]
    assert chosen["hparams"] == {"00 role": "chosen", "01 lr_img": 0.5128, "02 batch_real": "128",
                                 "03 dsa_strategy": "dataset"}
    assert chosen["metrics"] == {"val_acc": 61.0, "final/confirm_acc": 70.0, "final/test_acc/convnet": 71.0,
                                 "final/test_acc/lenet": 50.0}
    assert page["sessions"][t00]["metrics"] == {
        "val_acc": 60.0, "final/confirm_acc": 65.0, "final/test_acc/convnet": 66.0}
    assert page["sessions"][t02]["metrics"] == {"val_acc": 62.0}
    assert page["images"][t00] == ["synset"]  # the trial's own events, linked
    # written again (a resumed study): replaced, not doubled
    write_board_view(tmp_path, 1, result, {"batch_real": 0.2, "lr_img": 0.7, "dsa_strategy": 0.1})
    assert len(list((tmp_path / "board" / "ipc1").iterdir())) == 3
    assert len(list((tmp_path / "board").glob("events.out.tfevents.*"))) == 1


def test_a_set_in_tensorboard_is_one_column_per_class_ten_classes_to_a_line():
    import torch

    from dd_tune.core.grids import MIN_CELL, class_columns

    h = w = 28
    grid = torch.rand(1, 12 * h, 2 * w)  # 12 classes, 2 images each, one row per class
    image = class_columns(grid, [f"c{i}" for i in range(12)], (h, w))
    scale = MIN_CELL // 28
    assert image.size == (10 * w * scale, 2 * (16 + 2 * h * scale))  # two lines: 10 classes, then 2
