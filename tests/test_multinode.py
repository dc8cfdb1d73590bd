"""A study through a multi-node Ray cluster on one machine (head + two workers, 1 CPU each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dd_tune.base.errors import ConfigError
from dd_tune.tune import cluster as cluster_mod

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_study_spreads_trials_over_the_nodes_of_a_cluster(tmp_path, data_root):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        storage = tmp_path / "runs"
        r = subprocess.run(
            [sys.executable, "-m", "dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage", str(storage),
             "--data-root", str(data_root), "--address", cluster.address],
            capture_output=True, text=True, cwd=REPO, timeout=900)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert "on 3 Ray node(s)" in r.stdout
        report = json.loads((storage / "dm_mnist" / "report.json").read_text())
        trials = report["by_ipc"]["1"]["trials"]
        assert len(trials) == 3 and all(t["node"] for t in trials)
        assert len({t["node"] for t in trials}) > 1  # 1 CPU per node, 2 concurrent trials
        for name in ("best", "default", "random_real"):
            assert {"convnet", "lenet"} <= set(report["reeval"][name])
        assert (storage / "dm_mnist" / "report.md").exists()
    finally:
        cluster.shutdown()


def test_node_local_storage_is_refused_on_a_multi_node_cluster(tmp_path, monkeypatch):
    nodes = [{"NodeID": f"n{i}", "NodeManagerAddress": f"10.0.0.{i}", "Alive": True} for i in range(3)]
    monkeypatch.setattr(cluster_mod, "alive_nodes", lambda: nodes)
    monkeypatch.setattr(cluster_mod, "nodes_missing", lambda storage, nodes, probe=None: ["10.0.0.2"])
    with pytest.raises(ConfigError, match=r"is node-local: 1 of 3 Ray nodes \(10.0.0.2\) cannot see it"):
        cluster_mod.check_shared_storage(tmp_path)
    monkeypatch.setattr(cluster_mod, "nodes_missing", lambda storage, nodes, probe=None: [])
    assert cluster_mod.check_shared_storage(tmp_path) == 3
    monkeypatch.setattr(cluster_mod, "alive_nodes", lambda: nodes[:1])
    assert cluster_mod.check_shared_storage(tmp_path) == 1  # one node: any local path is shared
