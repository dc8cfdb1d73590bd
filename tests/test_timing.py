"""The report's "where the time went" table: trials' own timings and the driver's clock add up."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from factories import ipc_result, study_result

from dd_tune.records import OverheadProbe, TrialTiming
from dd_tune.report.timing import mean_trial_work, probe_lines, ray_overhead, study_time_line, time_lines, time_rows
from dd_tune.search.trial_rows import trial_timing


def _row(trial_s=(100.0, 80.0), slots=2.0):
    trials = [{"timing": {"setup_s": 2.0, "distill_s": 50.0, "eval_s": 40.0, "trial_s": trial_s[0]}},
              {"timing": {"setup_s": 2.0, "distill_s": 40.0, "eval_s": 30.0, "trial_s": trial_s[1]}}]
    return ipc_result(n_trials=2, trials=trials,
                      timing={"search_s": 110.0, "final_eval_s": 60.0, "slots": slots, "wall_s": 180.0})


def test_rows_are_wall_seconds_and_add_up_to_the_ipc_wall_time():
    rows = dict(time_rows(_row()))
    assert rows["distillation"] == pytest.approx(45.0)  # (50 + 40) / 2 slots
    assert rows["proxy evaluation"] == pytest.approx(35.0)
    assert rows["trial set-up (data, initial set)"] == pytest.approx(2.0)
    assert rows["checkpoints, reporting, pictures (Ray, inside trials)"] == pytest.approx((180 - 164) / 2)
    assert rows["Ray scheduling and idle slots"] == pytest.approx(110 - 90)
    assert rows["best set, plots, report"] == pytest.approx(180 - 110 - 60)
    parts = [sec for what, sec in time_rows(_row()) if what != "wall time of this IPC"]
    assert sum(parts) == pytest.approx(180.0)


def test_ray_overhead_is_trial_time_beyond_the_work_the_trial_timed():
    assert ray_overhead(_row()) == pytest.approx((180 - 164) / 164)
    assert ray_overhead(ipc_result(trials=[{}])) is None


def test_lines_show_throughput_overhead_and_nothing_without_timings():
    text = "\n".join(time_lines(_row()))
    assert "65.5 trials per hour" in text  # 2 trials in 110 s
    assert "9.8 %" in text and "rows add up to 100.0 %" in text
    assert time_lines(ipc_result(n_trials=1, trials=[{"timing": {}}], timing={})) == []


def test_study_line_adds_stage_ipcs_and_the_rest():
    report = study_result({"1": _row()}, wall_time_s=300.0, expert_stage={"seconds": 100.0})
    assert study_time_line(report)[0] == ("Wall time 300 s = expert stage 100 s + IPC 1 180 s + the rest "
                                          "(study files, report) 20 s.")


def test_study_line_counts_the_probe_and_says_its_share_of_the_mean_trial():
    probe = {"iterations": 10, "in_process_s": 4.0, "ray_s": 9.0, "ray_reused_s": 7.0, "seconds": 15.0}
    report = study_result({"1": _row()}, wall_time_s=300.0, overhead_probe=probe)
    lines = study_time_line(report)
    assert lines[0] == ("Wall time 300 s = overhead probe 15 s + IPC 1 180 s + the rest (study files, report) "
                        "105 s.")
    assert mean_trial_work(report) == pytest.approx((92 + 72) / 2)
    text = " ".join(lines)
    # the reused actor is the search's case: 3 s of an 82 s trial = 3.7 %, within the 5 % target
    assert ("4.0 s in-process; in Ray Tune 7.0 s on a reused actor, as the search's trials run, 9.0 s for the "
            "first trial of an experiment (fresh actor, experiment set-up) = 3.0 s per trial, 3.7 %") in text
    assert "within the 5 % target" in text
    slow = dataclasses.replace(report, overhead_probe=OverheadProbe.from_json({**probe, "ray_reused_s": 10.0}))
    assert "7.3 %" in " ".join(probe_lines(slow)) and "above the 5 % target" in " ".join(probe_lines(slow))
    old = dataclasses.replace(report, overhead_probe=OverheadProbe.from_json(
        {k: v for k, v in probe.items() if k != "ray_reused_s"}))
    assert "= 5.0 s per trial, 6.1 %" in " ".join(probe_lines(old))  # first version: the cold trial
    failed = dataclasses.replace(report, overhead_probe=OverheadProbe(10, error="RuntimeError: boom"))
    assert probe_lines(failed)[0] == "Ray's overhead on a trial was not measured: the probe failed (RuntimeError: boom)."
    assert probe_lines(dataclasses.replace(report, overhead_probe=None)) == []


class _Result:
    def __init__(self, df):
        self.metrics_dataframe = df


def test_trial_timing_sums_every_report_and_takes_rays_total():
    df = pd.DataFrame({"setup_s": [3.0, 0.0], "distill_s": [10.0, 12.0], "eval_s": [5.0, None],
                       "time_total_s": [20.0, 41.0]})
    assert trial_timing(_Result(df)) == TrialTiming(setup_s=3.0, distill_s=22.0, eval_s=5.0, trial_s=41.0)
    assert trial_timing(_Result(None)) is None


def test_probe_is_the_study_cut_to_a_short_trial(data_root):
    from dd_tune.methods.configs import load_study
    from dd_tune.search.overhead import _in_process, probe_config, probe_setup
    from dd_tune.search.setup import TrialSetup

    study = load_study("dm_mnist", "smoke")
    setup = TrialSetup(study, 1, str(data_root), False, fault="1")
    probe = probe_setup(setup)
    # at most PROBE_ITERATIONS (10), never more than the study runs (smoke: 4)
    assert probe.study.distill.iterations == 4 and probe.study.search.report_every == 4
    assert (probe.study.proxy_eval.epochs, probe.study.proxy_eval.models) == (1, 1)
    assert probe.fault == "" and probe.study.final_eval == study.final_eval
    assert probe_config(probe, {"lr_img": 1.0, "iterations": 20}) == {"lr_img": 1.0, "iterations": 4}
    assert probe_config(probe, {"lr_img": 1.0}) == {"lr_img": 1.0}
    assert _in_process(probe, probe_config(probe, {"lr_img": 1.0, "iterations": 20})) > 0  # runs, without Ray
