"""GPU clusters by simulation, on Ray's own harness (tests/sim_cluster.py): a study waits for GPU nodes
that join after it started (by hand, or started by the fake autoscaler at its request), packs fractional-
GPU trials, records where every job ran, and loses nothing when a worker node dies mid-search, during the
expert stage or during the test pass. Each test starts its cluster and shuts it down."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sim_cluster import REPO, SimCluster, StudyProcess

SIMULATED = "cpu (simulated GPU)"


def smoke(name: str, storage: Path, data_root: Path, address: str, *sets: str) -> list[str]:
    out = [name, "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root), "--address", address]
    for s in sets:
        out += ["--set", s]
    return out


def report(storage: Path, name: str) -> dict:
    return json.loads((storage / name / "report.json").read_text())


def overlap(trials: list[dict]) -> int:
    """The most trials that were alive at one moment (from each trial's first and last report)."""
    spans = []
    for t in trials:
        starts = [at - el for at, el in zip(t["reported"], t["elapsed"])]
        spans.append((min(starts), max(t["reported"])))
    return max(sum(1 for a, b in spans if a <= t0 <= b) for t0, _ in spans)


def trial_spans(storage: Path, name: str) -> list[dict]:
    """Every trial's report times, read from Tune's result.json files."""
    out = []
    for result in sorted((storage / name / "ipc1").glob("*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        out.append({"reported": [r["reported_at"] for r in rows], "elapsed": [r["elapsed_s"] for r in rows]})
    return out


# the DM smoke study cut to what these tests measure (placement, not accuracy): DM's own knobs searched,
# one finalist, one architecture, one model per row
LEAN = ["search.overhead_probe=false", "search.asha.enabled=false", "data.max_train_per_class=100",
        "search.exclude=[init, selection.embedding, factor, net_width, net_depth, net_norm, "
        "net_pooling, dsa_strategy, momentum_img, lr_schedule]", "search.confirm.top_k=1",
        "search.confirm.models=2", "final_eval.archs=[convnet]", "final_eval.models=1",
        "final_eval.random_real_draws=1", "final_eval.lr_grid=[]", "proxy_eval.epochs=1"]


@pytest.mark.slow
def test_the_fake_autoscaler_starts_gpu_nodes_for_the_study_which_packs_16_quarter_gpu_trials(tmp_path, data_root):
    """Nothing but a CPU head is up; the autoscaler may start two 2-GPU nodes. A request larger than any
    node type is refused at once; then gpu auto plans GPU trials from the node type, the study's request
    makes the autoscaler start both nodes, and 16 trials at 0.25 GPU run side by side on them, each
    recording where it ran."""
    storage = tmp_path / "runs"
    types = {"gpu_worker": {"resources": {"CPU": 4, "GPU": 2}, "node_config": {}, "min_workers": 0,
                            "max_workers": 2}}
    with SimCluster(tmp_path, head_cpus=1, autoscaler_types=types) as sim:
        refused = StudyProcess(smoke("dm_mnist", storage, data_root, sim.address, "resources.gpu=3"),
                               tmp_path / "refused.log")
        assert refused.finish(timeout=120) == 2
        errors = [line for line in refused.text().splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "no node the cluster has or can start holds that" in errors[0]
        assert "2 GPU + 4 CPU" in errors[0] and not storage.exists()  # nothing written

        study = StudyProcess(smoke("dm_mnist", storage, data_root, sim.address, "resources.cpu=0.5",
                                   "resources.simulated_gpus=true", "resources.wait_s=240", "search.num_samples=16",
                                   "search.max_concurrent_trials=16", *LEAN),
                             tmp_path / "study.log", env={"DD_TUNE_TASK_DELAY": "trial=3"})
        rc = study.finish()
        out = study.text()
        assert rc == 0, out[-4000:]
        assert "the autoscaler may start 2 x (2 GPU, 4 CPU)" in out
        assert "asked the autoscaler for 16 such slot(s)" in out and "GPU(s) up after" in out
        # the console announces what the nodes up at the start hold: one GPU node's 8, or both nodes' 16
        announced = re.search(r"IPC 1: (\d+) trial\(s\) at once .* the nodes up now hold (\d+),", out)
        assert announced and announced.group(1) == announced.group(2) and announced.group(1) in ("8", "16"), out
        result = report(storage, "dm_mnist")
        trials = result["by_ipc"]["1"]["trials"]
        assert len(trials) == 16 and len({t["node"] for t in trials}) == 2
        assert all(t["device"] == SIMULATED and t["gpu_share"] == 0.25 for t in trials)  # gpu auto: 0.25
        assert overlap(trial_spans(storage, "dm_mnist")) > 8  # more than one node's 8 slots at once
        places = result["by_ipc"]["1"]["job_places"]
        assert places["test pass"] and all(SIMULATED in w or w == "cache" for w in places["test pass"])
        md = (storage / "dm_mnist" / "report.md").read_text()
        assert "ran on" in md and "cpu (simulated GPU), 0.25 GPU on" in md


def _pad_run(tmp: Path, data_root: Path, name: str, disturb: bool) -> dict:
    """pad_mnist's smoke study (experts, a sequential search, confirmation, test pass) with one simulated
    GPU per trial on 1-GPU workers (the head has none). Undisturbed, the workers are up from the start.
    With ``disturb`` the study starts on the head alone and waits; two workers join; then a worker dies in
    the expert stage, another while the first trial runs on it (after its first checkpoint) and a third in the
    test pass, each replaced."""
    storage = tmp / name
    with SimCluster(tmp, head_cpus=1) as sim:
        first = [] if disturb else [sim.add_worker(cpus=1, gpus=1), sim.add_worker(cpus=1, gpus=1)]
        sets = ["search.max_concurrent_trials=1", "search.overhead_probe=false", "resources.gpu=1",
                "resources.cpu=1", "resources.simulated_gpus=true", "named_points={}", "final_eval.archs=[convnet]",
                "final_eval.random_real_draws=1", "search.confirm.top_k=1", "distill.experts.num_experts=1",
                "search.num_samples=2", "proxy_eval.epochs=1"]
        if disturb:
            expired = StudyProcess(smoke("pad_mnist", storage, data_root, sim.address, *sets, "resources.wait_s=2"),
                                   tmp / "expired.log")
            assert expired.finish(timeout=120) == 2
            errors = [line for line in expired.text().splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and "came up within resources.wait_s=2 s" in errors[0]
            assert not (storage / "pad_mnist").exists()
        study = StudyProcess(smoke("pad_mnist", storage, data_root, sim.address, *sets, "resources.wait_s=300"),
                             tmp / f"{name}.log", env={"DD_TUNE_TASK_DELAY": "expert=5,eval=1,trial=3"} if disturb else {})
        if disturb:
            study.wait_for("waiting up to 300 s for a node that can take a trial")
            time.sleep(2)
            assert study.proc.poll() is None  # still waiting, not refused
            first = [sim.add_worker(cpus=1, gpus=1), sim.add_worker(cpus=1, gpus=1)]
            study.wait_for("expert stage: 2 expert(s) in")  # SPREAD: one per worker, each in its 5 s pause
            time.sleep(2)
            sim.kill(first[0])
            spare = sim.add_worker(cpus=1, gpus=1)
            # t00 (the defaults: never stopped early) on one of the workers, in its pause after its first
            # checkpoint: its node dies there
            study.wait_for("t00 started")
            _wait_for_checkpoint(storage / "pad_mnist" / "ipc1", "t00")
            node = _node_of(storage / "pad_mnist" / "ipc1", "t00")
            sim.kill(next(n for n in (first[1], spare) if n.node_id == node))
            third = sim.add_worker(cpus=1, gpus=1)
            study.wait_for("test pass: ")
            time.sleep(1)
            sim.kill(next(n for n in (first[1], spare, third) if n.node_id != node and _alive(sim, n)))
            sim.add_worker(cpus=1, gpus=1)
        rc = study.finish()
        assert rc == 0, study.text()[-4000:]
        return report(storage, "pad_mnist")


def _alive(sim: SimCluster, node: object) -> bool:
    return any(w is node for w in sim.cluster.worker_nodes)


def _wait_for_checkpoint(exp_dir: Path, trial: str, timeout: float = 120) -> None:
    """Until the trial's first checkpoint is on the storage and the driver has recorded its report."""
    t0 = time.time()
    while not (list(exp_dir.glob(f"{trial}*/checkpoint_*"))
               and any(p.stat().st_size for p in exp_dir.glob(f"{trial}*/result.json"))):
        assert time.time() - t0 < timeout, f"no checkpoint of {trial} within {timeout} s"
        time.sleep(0.2)


def _node_of(exp_dir: Path, trial: str) -> str:
    result = next(exp_dir.glob(f"{trial}*/result.json"))
    return str(json.loads(result.read_text().splitlines()[0])["node_id"])


@pytest.mark.slow
def test_a_study_waits_for_gpu_workers_and_a_dead_worker_loses_nothing(tmp_path, data_root):
    """A wait that expires is refused in one line with nothing written; a study on a head without GPUs
    waits for workers that join later and runs on them; workers dying in the expert stage, mid-search and
    in the test pass change no number against an undisturbed run with the same seed."""
    calm = _pad_run(tmp_path, data_root, "calm", disturb=False)
    hit = _pad_run(tmp_path, data_root, "hit", disturb=True)
    rows, calm_rows = hit["by_ipc"]["1"], calm["by_ipc"]["1"]
    # three workers were killed; Ray declares a node dead ~15 s after it stops answering, in whichever
    # stage runs then (one declared after the last stage ended is not counted)
    assert 2 <= sum(rows["nodes_lost"].values()) + hit["expert_stage"]["dead_nodes"] <= 3
    trials = rows["trials"]
    assert all(t["device"] == SIMULATED and t["gpu_share"] == 1 for t in trials)  # on the workers that joined
    assert len(trials) == len(calm_rows["trials"]) == len({t["trial"] for t in trials})  # one result each
    restarted = [t for t in trials if t["failures"]]
    assert restarted and all(t["resumed_from"] > 0 for t in restarted)  # from a checkpoint, not from scratch
    assert sorted((t["trial"], t["val_acc"]) for t in trials) == sorted((t["trial"], t["val_acc"]) for t in calm_rows["trials"])
    import optuna

    study = optuna.load_study(study_name="pad_mnist-ipc1", storage=f"sqlite:///{tmp_path / 'hit' / 'pad_mnist' / 'optuna.db'}")
    assert len(study.trials) == len(trials)  # one Optuna entry per trial
    for name in calm_rows["reeval"]:
        for arch in calm_rows["reeval"][name]:
            assert rows["reeval"][name][arch]["runs"] == calm_rows["reeval"][name][arch]["runs"], (name, arch)
    assert hit["expert_stage"]["experts"] == calm["expert_stage"]["experts"]
    md = (tmp_path / "hit" / "pad_mnist" / "report.md").read_text()
    assert "Crashes and lost nodes:" in md and "trial restart(s)" in md


NO_CUDA_PROBE = """
import sys
import ray
from dd_tune.base.errors import ResourceError
from dd_tune.methods.configs import load_study
from dd_tune.search.setup import TrialSetup

setup = TrialSetup(load_study("dm_mnist", profile="smoke"), 1, sys.argv[2], use_gpu=True)
ray.init(address=sys.argv[1])
try:
    ray.get(ray.remote(num_gpus=1, num_cpus=1)(lambda s: s.placement()).remote(setup))
    print("NO ERROR")
except ResourceError as e:
    print("REFUSED", str(e).strip().splitlines()[-1])
print("CPU JOB", ray.get(ray.remote(num_cpus=1)(lambda s: s.placement().device).remote(setup)))
"""


@pytest.mark.slow
def test_a_job_given_a_gpu_without_cuda_fails_naming_its_node(tmp_path):
    """Outside simulation, Ray's GPU grant on a node where CUDA is not usable is one clear error (a
    driver of its own: this test process may hold the suite's Ray session)."""
    with SimCluster(tmp_path, head_cpus=1) as sim:
        sim.add_worker(cpus=1, gpus=1)
        r = subprocess.run([sys.executable, "-c", NO_CUDA_PROBE, sim.address, str(tmp_path)], capture_output=True,
                           text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"REFUSED .*ResourceError: Ray gave this job 1 GPU on node .* but CUDA is not usable", r.stdout), \
        r.stdout
    assert "CPU JOB cpu" in r.stdout
