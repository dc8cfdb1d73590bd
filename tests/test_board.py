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
                                   "matching_loss_min": 0.97, "time/distill_s": 4.0, "time/eval_s": 1.5,
                                   "diverged": 0.0}


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
    assert page["runs"] == ["ipc1/t00_batch_real=64_lr_img=1", "ipc1/t01_batch_real=64_lr_img=0.51", "test"]
    assert page["scalars"]["ipc1/t01_batch_real=64_lr_img=0.51"] == ["time/distill_s", "val_acc"]
    assert page["scalars"]["test"] == ["test_acc/convnet/best", "test_acc/convnet/default"]
