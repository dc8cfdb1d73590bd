"""The report's "where the time went" table: trials' own timings and the driver's clock add up."""

from __future__ import annotations

import pandas as pd
import pytest

from dd_tune.report.timing import ray_overhead, study_time_line, time_lines, time_rows
from dd_tune.tune.search import trial_timing


def _row(trial_s=(100.0, 80.0), slots=2.0):
    trials = [{"timing": {"setup_s": 2.0, "distill_s": 50.0, "eval_s": 40.0, "trial_s": trial_s[0]}},
              {"timing": {"setup_s": 2.0, "distill_s": 40.0, "eval_s": 30.0, "trial_s": trial_s[1]}}]
    return {"n_trials": 2, "trials": trials,
            "timing": {"search_s": 110.0, "final_eval_s": 60.0, "slots": slots, "wall_s": 180.0}}


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
    assert ray_overhead({"trials": [{}]}) is None


def test_lines_show_throughput_overhead_and_nothing_without_timings():
    text = "\n".join(time_lines(_row()))
    assert "65.5 trials per hour" in text  # 2 trials in 110 s
    assert "9.8 %" in text and "rows add up to 100.0 %" in text
    assert time_lines({"n_trials": 1, "trials": [{"timing": {}}], "timing": {}}) == []


def test_study_line_adds_stage_ipcs_and_the_rest():
    report = {"wall_time_s": 300.0, "expert_stage": {"seconds": 100.0}, "by_ipc": {"1": _row()}}
    assert study_time_line(report)[0] == ("Wall time 300 s = expert stage 100 s + IPC 1 180 s + the rest "
                                          "(study files, report) 20 s.")


class _Result:
    def __init__(self, df):
        self.metrics_dataframe = df


def test_trial_timing_sums_every_report_and_takes_rays_total():
    df = pd.DataFrame({"setup_s": [3.0, 0.0], "distill_s": [10.0, 12.0], "eval_s": [5.0, None],
                       "time_total_s": [20.0, 41.0]})
    assert trial_timing(_Result(df)) == {"setup_s": 3.0, "distill_s": 22.0, "eval_s": 5.0, "trial_s": 41.0}
    assert trial_timing(_Result(None)) == {}
