"""A multi-node study refuses a storage that not every node sees (the studies on simulated multi-node
clusters, GPU workers and dead nodes are in tests/test_gpu_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dd_tune.base.errors import ConfigError
from dd_tune.tune import cluster as cluster_mod

REPO = Path(__file__).resolve().parents[1]


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
