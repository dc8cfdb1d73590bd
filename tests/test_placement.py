"""Where jobs ran and what a lost node cost, as the report shows them; the device rule outside Ray; the
node-death testing hook (the live checks on simulated clusters are in tests/test_gpu_cluster.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import ipc_result, trial

from dd_tune.base.errors import ConfigError
from dd_tune.report.tables import ran_on, trial_lines
from dd_tune.report.timing import lost_lines, placement_lines
from dd_tune.search import placement as placement_mod
from dd_tune.search.board import placement_text
from dd_tune.search.faults import delay_rules
from dd_tune.search.trial_rows import lost_seconds

SIM = {"device": "cpu (simulated GPU)", "gpu_share": 0.5, "node_address": "10.0.0.7 (gpu-1, node 1a2b3c4d)"}


def _trial(name: str, acc: float, **extra: object) -> dict:
    return {"trial": name, "optuna": int(name[1:]), "config": {"lr_img": 1.0}, "val_acc": acc, "it": 4,
            "error": None, **extra}


def test_the_trial_table_says_where_each_trial_ran_and_how_often_it_restarted():
    row = ipc_result(trials=[_trial("t00", 50.0, **SIM, failures=1), _trial("t01", 40.0, **SIM, failures=0)])
    lines = trial_lines(row, {"lr_img": {}})
    head = "| trial | val acc (%) | iterations run | configuration (how it differs from the reference defaults)"
    assert lines[1] == head + " | ran on | restarts |"
    assert "| t00 | 50.00 | 4 | — | cpu (simulated GPU), 0.5 GPU on 10.0.0.7 | 1 |" in lines
    assert "The same in every trial: lr_img=1." in lines
    assert ran_on(trial(trial="t", device="cuda:0 (NVIDIA A10G)", gpu_share=0.25, node_address="10.0.0.9 (x)")) == \
        "cuda:0 (NVIDIA A10G), 0.25 GPU on 10.0.0.9"
    old = trial_lines(ipc_result(trials=[_trial("t00", 50.0)]), {"lr_img": {}})  # a report of an earlier version
    assert old[1] == head + " |"


def test_the_time_table_says_what_dead_nodes_cost_and_where_jobs_ran():
    row = ipc_result(trials=[_trial("t00", 50.0, failures=2, lost_s=31.6), _trial("t01", 40.0, failures=0)],
                     nodes_lost={"search": 1, "test pass": 1},
                     job_places={"test pass": {"cpu (simulated GPU), 0.5 GPU on 10.0.0.7": 5, "cache": 2}})
    text = " ".join(lost_lines(row))
    assert "2 trial restart(s) from the last checkpoint, 32 s of trial time lost" in text
    assert "1 during the search, 1 during the test pass" in text
    assert lost_lines(ipc_result(trials=[_trial("t00", 50.0)])) == []
    assert "test pass: 2 cache, 5 cpu (simulated GPU), 0.5 GPU on 10.0.0.7" in placement_lines(row)[0]
    assert placement_text({"device": "cpu", "gpu_share": 0, "node_address": "n1"}) == "cpu on n1"


def test_lost_seconds_run_from_the_checkpoint_to_the_restarted_attempt():
    # attempt 1 reported at t=100 (iteration 2) and died; attempt 2 started at t=130 from that checkpoint
    df = pd.DataFrame({"resumed_from": [0, 2, 2], "reported_at": [100.0, 140.0, 150.0],
                       "elapsed_s": [20.0, 10.0, 20.0]})

    class Result:
        metrics_dataframe = df

    assert lost_seconds(Result()) == pytest.approx(30.0)
    Result.metrics_dataframe = df.iloc[:1]
    assert lost_seconds(Result()) == 0.0


def test_outside_ray_the_device_is_cuda_only_where_asked_and_present(monkeypatch):
    assert not placement_mod.in_ray_worker()
    assert placement_mod.job_device(use_gpu=False, simulated=False).type == "cpu"
    monkeypatch.setattr(placement_mod.torch.cuda, "is_available", lambda: False)
    assert placement_mod.job_device(use_gpu=True, simulated=False).type == "cpu"  # the driver: no error
    where = placement_mod.placement(use_gpu=False, simulated=False)
    assert (where.node, where.device, where.gpu) == ("driver", "cpu", 0.0)


def test_a_gpu_grant_inside_a_placement_group_is_read_from_its_indexed_bundle(monkeypatch):
    class Ctx:
        def get_assigned_resources(self):
            return {"CPU_group_0_ab": 1.0, "GPU_group_0_ab": 0.25, "GPU_group_ab": 0.25}

    class Ray:
        @staticmethod
        def get_runtime_context():
            return Ctx()

    monkeypatch.setattr(placement_mod, "in_ray_worker", lambda: True)
    monkeypatch.setattr(placement_mod, "_ray", lambda: Ray)
    assert placement_mod.granted_gpu() == 0.25
    monkeypatch.setattr(placement_mod.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(placement_mod, "node_name", lambda: "10.0.0.7 (gpu-1, node 1a2b3c4d)")
    assert placement_mod.job_device(use_gpu=True, simulated=True).type == "cpu"
    from dd_tune.base.errors import ResourceError

    with pytest.raises(ResourceError, match=r"0.25 GPU on node 10.0.0.7 \(gpu-1, node 1a2b3c4d\), but CUDA"):
        placement_mod.job_device(use_gpu=True, simulated=False)


def test_the_node_death_hook_parses_or_refuses():
    assert delay_rules("expert=5, eval=1.5,trial=0") == {"expert": 5.0, "eval": 1.5, "trial": 0.0}
    assert delay_rules("") == {}
    for bad in ("expert", "gpu=3", "eval=-1", "trial=x", "eval=601"):
        with pytest.raises(ConfigError, match="DD_TUNE_TASK_DELAY: bad rule"):
            delay_rules(bad)
