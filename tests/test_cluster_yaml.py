"""cluster.yaml validates offline against Ray's own schema and config checks (no cloud calls)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _validate(cfg: dict) -> None:
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(cfg)]
    if errors:
        raise jsonschema.ValidationError("; ".join(errors))
    validate_config(prepare_config(copy.deepcopy(cfg)))  # provider defaults merged offline + semantic checks


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_validation(cluster):
    _validate(cluster)


def test_cluster_has_a_cpu_head_and_autoscaled_gpu_workers(cluster):
    types = cluster["available_node_types"]
    assert types[cluster["head_node_type"]]["resources"]["GPU"] == 0  # trials never land on the head
    gpu_types = [t for t in types.values() if t["resources"].get("GPU", 0) > 0]
    assert gpu_types and all(t["max_workers"] > t["min_workers"] for t in gpu_types)


def test_cluster_installs_dd_tune_and_mounts_shared_storage(cluster):
    setup = " ".join(cluster["setup_commands"])
    assert "pip install -e ~/dd_tune" in setup
    assert "mount -t nfs4" in setup and "/mnt/dd_tune" in setup
    # the checkout is synced from where `ray up` runs: no absolute paths of the author's machine (the
    # Ray auth token comes from the home directory of whoever runs `ray up`)
    assert all(not src.startswith(("/", "~")) for dst, src in cluster["file_mounts"].items()
               if not dst.endswith("/.ray/auth_token"))


def test_cluster_runs_ray_with_token_auth_and_a_loopback_dashboard(cluster):
    starts = cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert len(ray_starts) == 2 and all("RAY_AUTH_MODE=token ray start" in c for c in ray_starts)
    head = next(c for c in ray_starts if "--head" in c)
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in " ".join(starts)
    assert cluster["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"


@pytest.mark.parametrize("breakage", [
    lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU=0.5),  # must be integer
    lambda c: c.update(head_node_type="nope"),
    lambda c: c.update(setup_command=["typo"]),
])
def test_validation_rejects_broken_configs(cluster, breakage):
    broken = copy.deepcopy(cluster)
    breakage(broken)
    with pytest.raises(Exception):
        _validate(broken)


def _exec_commands(text: str) -> list[str]:
    """The study commands of every ``ray exec cluster.yaml "..."`` in a text (continuation lines joined)."""
    import re

    joined = re.sub(r"\\\n[#\s]*", " ", text)
    return [" ".join(m.split()) for m in re.findall(r'ray exec cluster\.yaml "([^"]+)"', joined)]


def test_the_readme_guide_and_cluster_yaml_give_the_same_runnable_command(cluster):
    """The README's cluster section runs as written: the same command in the README, the guide and
    cluster.yaml's comments; it enters the checkout file_mounts copies, sends the token, and uses the
    storage and data folders setup_commands creates on the shared mount."""
    from dd_tune.commands.study import parse_args

    texts = {name: (ROOT / name).read_text() for name in ("README.md", "docs/guide.md", "cluster.yaml")}
    commands = {name: _exec_commands(text) for name, text in texts.items()}
    assert all(commands.values()) and len({c for cs in commands.values() for c in cs}) == 1, commands
    command = commands["README.md"][0]
    home = f"/home/{cluster['auth']['ssh_user']}"
    checkout = next(k for k, v in cluster["file_mounts"].items() if v == ".")
    assert command.startswith(f"cd {checkout.replace(home, '~')} && RAY_AUTH_MODE=token python3 -m dd_tune.study ")
    args = command.split("-m dd_tune.study ", 1)[1].split()
    parsed = parse_args(args)
    assert parsed.address == "auto" and parsed.study == "pad_mnist"
    setup = " ".join(cluster["setup_commands"])
    for folder in (parsed.storage, parsed.data_root):
        assert folder.startswith("/mnt/dd_tune/") and folder in setup
    assert "EFS_ID=fs-" in setup and all("ray get-auth-token --generate" in t for t in texts.values())
