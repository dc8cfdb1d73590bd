"""What a cluster has and can start (dd_tune.tune.capacity), how a study's trial request is resolved
against it, and the wait for GPU nodes: plain values, no Ray (the simulated clusters are in
tests/test_gpu_cluster.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dd_tune.base.errors import ConfigError, ResourceError
from dd_tune.config.resources import ResourcesConfig
from dd_tune.methods.configs import load_study
from dd_tune.tune import capacity as cap_mod
from dd_tune.tune.capacity import Capacity, GpuWait, NodeShape, local_capacity
from dd_tune.tune.resources import check_full_budget_on_cpu, resolve_resources

HEAD = NodeShape(8, 0)
GPU_TYPE = NodeShape(48, 4, count=4)  # cluster.yaml's gpu_worker


def study(**resources: object):
    return load_study("dm_mnist", "smoke", [(f"resources.{k}", v) for k, v in resources.items()])


def test_a_fresh_autoscaling_cluster_plans_gpu_trials_from_its_node_types():
    fresh = Capacity((HEAD,), autoscaler=True, node_types=(GPU_TYPE,))
    assert fresh.gpus_now == 0 and fresh.can_have_gpus
    assert resolve_resources(study(), fresh).gpu == 0.25  # gpu auto: the node type has GPUs
    assert resolve_resources(study(gpu=0.5), fresh).gpu == 0.5  # explicit: possible, so not refused
    check_full_budget_on_cpu("study x", fresh.can_have_gpus, profile_chosen=False, yes_cpu=False)  # no refusal
    assert fresh.max_slots(1, 0.25) == 4 * min(48, 16) + 0  # 16 per node (4 GPUs / 0.25), 4 nodes
    assert not fresh.fits_now(1, 0.25) and fresh.can_fit(1, 0.25) is True


def test_a_cluster_without_gpus_or_autoscaler_plans_cpu_trials_and_refuses_the_default_budget():
    cpu_only = Capacity((HEAD, NodeShape(4, 0)))
    assert resolve_resources(study(), cpu_only).gpu == 0.0
    with pytest.raises(ResourceError, match="no GPU is visible"):
        check_full_budget_on_cpu("study x", cpu_only.can_have_gpus, profile_chosen=False, yes_cpu=False)
    # an explicit GPU request may be met by a node started by hand: unknown, so the wait decides
    assert cpu_only.can_fit(1, 1) is None and resolve_resources(study(gpu=1), cpu_only).gpu == 1


def test_impossible_requests_are_refused_at_once_naming_what_the_cluster_has():
    autoscaled = Capacity((HEAD,), autoscaler=True, node_types=(NodeShape(8, 2, count=2),))
    with pytest.raises(ResourceError, match=r"asks for 3 GPU \+ 1 CPU per trial, but no node .* 2 GPU \+ 8 CPU"):
        resolve_resources(study(gpu=3), autoscaled)
    with pytest.raises(ResourceError, match="no GPU is visible to Ray"):
        resolve_resources(study(gpu=0.5), local_capacity(2, 0))
    with pytest.raises(ResourceError, match="largest Ray node has 2 CPUs"):
        resolve_resources(study(cpu=4), local_capacity(2, 0))


def test_slots_are_placed_node_by_node():
    two = Capacity((HEAD, NodeShape(2, 2), NodeShape(2, 2)))
    assert two.slots(0.25, 0.25) == 16  # 8 per 2-GPU node; the head has no GPU
    assert two.slots(1, 0.25) == 2 + 2  # then the CPUs limit: 2 per worker
    assert Capacity((NodeShape(3, 0),)).slots(1, 0) == 3


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def sleep(self, s: float) -> None:
        self.t += s


def test_the_wait_returns_when_a_node_that_fits_arrives(monkeypatch):
    clock, said, polls = Clock(), [], iter([Capacity((HEAD,)), Capacity((HEAD, NodeShape(4, 2)))])
    monkeypatch.setattr(cap_mod.time, "time", lambda: clock.t)
    wait = GpuWait("study s", 1, 0.5, 4, 60, say=said.append, capacity=lambda: next(polls), sleep=clock.sleep)
    assert wait.run(Capacity((HEAD,))) == pytest.approx(2 * cap_mod.POLL_S)
    assert "waiting up to 60 s" in said[0] and "only a node started by hand" in said[0]
    assert "2 GPU(s) up after" in said[-1]


def test_the_wait_asks_the_autoscaler_and_is_refused_when_it_expires(monkeypatch):
    clock, asked = Clock(), []
    monkeypatch.setattr(cap_mod.time, "time", lambda: clock.t)
    monkeypatch.setattr(cap_mod, "request_slots", lambda cpu, gpu, n: asked.append((cpu, gpu, n)))
    monkeypatch.setattr(cap_mod, "release_request", lambda autoscaler: asked.append("released"))
    fresh = Capacity((HEAD,), autoscaler=True, node_types=(GPU_TYPE,))
    wait = GpuWait("study s", 1, 0.25, 8, 30, say=lambda line: None, capacity=lambda: fresh, sleep=clock.sleep)
    with pytest.raises(ResourceError, match=r"came up within resources.wait_s=30 s; check `ray status`"):
        wait.run(fresh)
    assert asked == [(1, 0.25, 8), "released"]


def test_wait_s_zero_and_out_of_range():
    with pytest.raises(ResourceError, match="resources.wait_s is 0"):
        GpuWait("study s", 1, 1, 1, 0, say=lambda line: None).run(Capacity((HEAD,)))
    for bad in (-1, 10**6):
        with pytest.raises(ConfigError, match="'resources.wait_s' must be null"):
            load_study("dm_mnist", "smoke", [("resources.wait_s", bad)])
    assert ResourcesConfig().wait_seconds(on_cluster=True) == 1200 and ResourcesConfig().wait_seconds(False) == 0
    assert ResourcesConfig(wait_s=5).wait_seconds(on_cluster=True) == 5


def test_node_types_come_from_the_monitors_autoscaling_config(tmp_path: Path):
    config = tmp_path / "ray_bootstrap_config.yaml"
    config.write_text("head_node_type: head\navailable_node_types:\n  head: {resources: {CPU: 8, GPU: 0}}\n"
                      "  gpu_worker: {resources: {CPU: 48, GPU: 4}, max_workers: 4}\n")
    proc = tmp_path / "proc"
    monitor = b"python\0/x/ray/autoscaler/_private/monitor.py\0--logs-dir=/l\0"
    for pid, gcs, path in ((16, "10.0.0.9:6379", "/another/cluster.yaml"), (17, "10.0.0.5:6379", str(config))):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(monitor + f"--gcs-address={gcs}\0--autoscaling-config={path}\0".encode())
    (proc / "18").mkdir()
    (proc / "18" / "cmdline").write_bytes(b"python\0--gcs-address=10.0.0.5:6379\0--autoscaling-config=/x\0")  # no monitor
    assert cap_mod.monitor_config_path("10.0.0.5:6379", proc) == config  # this cluster's monitor, not another's
    assert cap_mod.monitor_config_path("10.0.0.7:6379", proc) is None
    assert cap_mod.node_types_of(config) == (NodeShape(48, 4, count=4),)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"available_node_types": "nope"}))
    assert cap_mod.node_types_of(bad) is None and cap_mod.node_types_of(tmp_path / "missing") is None


def test_the_cluster_yaml_head_takes_no_trial():
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "cluster.yaml").read_text())
    types = cfg["available_node_types"]
    assert types[cfg["head_node_type"]]["resources"]["GPU"] == 0  # a GPU trial can never be placed there
    shapes = tuple(NodeShape(t["resources"]["CPU"], t["resources"]["GPU"], t["max_workers"])
                   for name, t in types.items() if name != cfg["head_node_type"])
    fresh = Capacity((NodeShape(types["head"]["resources"]["CPU"], 0),), autoscaler=True, node_types=shapes)
    for name in ("dm_mnist", "pad_mnist", "datadam_mnist"):
        r = resolve_resources(load_study(name), fresh)
        assert r.gpu > 0 and not fresh.fits_now(r.cpu, r.gpu)  # GPU trials: they wait for the GPU workers
