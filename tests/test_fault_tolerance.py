"""Fault tolerance end to end: kill -9 of a running study then --resume; trials that raise are retried
from their checkpoints. Real MNIST, smoke profiles, the study CLI in a subprocess (its own Ray)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dd_tune.search.trial_names import short_name

REPO = Path(__file__).resolve().parents[1]


def study_cmd(name: str, storage: Path, data_root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dd_tune.study", name, "--profile", "smoke", "--storage", str(storage),
            "--data-root", str(data_root), "--num-cpus", "2", *extra]


def last_results(exp_dir: Path) -> dict[str, dict]:
    """trial (t03) -> its last reported result (as Tune persisted it) with a checkpoint on disk."""
    out = {}
    for trial in (params.parent for params in exp_dir.glob("*/params.json")):  # every trial's folder
        lines = (trial / "result.json").read_text().splitlines() if (trial / "result.json").exists() else []
        if lines and any(trial.glob("checkpoint_*")):
            out[short_name(trial.name)] = json.loads(lines[-1])  # t03, as the report names it
    return out


def snapshot(exp_dir: Path) -> dict[str, tuple[str, dict]]:
    """trial (t03) -> (status, the result of its last registered checkpoint) in Tune's newest experiment
    snapshot: what ``--resume`` restores. A checkpoint on disk is not enough, nor is the snapshot's last
    result: Tune registers a checkpoint after the result it came with, and a snapshot taken in between
    restarts that trial from scratch. (The snapshot embeds pickles: this test reads its own storage.)"""
    import functools

    from ray.tune.utils.serialization import TuneFunctionDecoder

    files = sorted(exp_dir.glob("experiment_state-*.json"), key=lambda f: f.stat().st_mtime)
    try:
        data = json.loads(files[-1].read_text()) if files else {"trial_data": []}
    except (OSError, json.JSONDecodeError):  # being replaced right now: read it on the next poll
        return {}
    decoder = functools.partial(TuneFunctionDecoder, allow_cloudpickle=True)
    out = {}
    for trial_json, runtime_json in data["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json, cls=decoder)
        latest = runtime["checkpoint_manager"].latest_checkpoint_result
        out[short_name(trial["relative_logdir"])] = (trial["status"], dict(latest.metrics) if latest is not None else {})
    return out


ITERATIONS = 12


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    except ProcessLookupError:  # it ended first: the assertion below shows its log
        pass
    proc.wait(timeout=60)


@pytest.mark.slow
def test_kill_9_then_resume_keeps_finished_trials_and_resumes_running_ones(tmp_path, data_root):
    storage = tmp_path / "runs"
    # no early stopping (an unfinished trial must resume); 12 iterations, reported every 2, so there is
    # time to catch a trial between two checkpoints also on a fast machine (4 iterations raced past it)
    flags = ("--set", "search.asha.enabled=false", "--set", f"distill.iterations={ITERATIONS}")
    log = open(tmp_path / "first.log", "w")
    # Tune snapshots the experiment every 10 s or more; every second here, so that a snapshot lands while a
    # trial runs (the 12 iterations of a smoke trial take a few seconds)
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    proc = subprocess.Popen(study_cmd("pad_mnist", storage, data_root, *flags), stdout=log,
                            stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True, env=env)
    exp_dir = storage / "pad_mnist" / "ipc1"
    seen: dict[str, dict] = {}
    running: dict[str, int] = {}
    deadline = time.time() + 600
    try:
        # a second driver on the same study while the first runs is refused, naming the holder
        lock, made = storage / ".pad_mnist.lock", storage / "pad_mnist" / ".dd_tune_study"
        while time.time() < deadline and proc.poll() is None and not (lock.exists() and made.exists()):
            time.sleep(0.2)
        second = subprocess.run(study_cmd("pad_mnist", storage, data_root, *flags, "--resume"), capture_output=True,
                                text=True, cwd=REPO, timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"study pad_mnist is in use by PID {proc.pid}" in second.stderr and "Traceback" not in second.stderr
        # kill as soon as Tune's snapshot records a running trial with a checkpoint before its end
        while time.time() < deadline and proc.poll() is None:
            state = snapshot(exp_dir) if exp_dir.exists() else {}
            running = {t: r["it"] for t, (status, r) in state.items()  # (a diverged trial has ended)
                       if status == "RUNNING" and 0 < r.get("it", 0) < ITERATIONS and not r.get("diverged")}
            if running:
                seen = last_results(exp_dir)
                break
            time.sleep(0.2)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    finished = {t: r["val_acc"] for t, r in seen.items() if r["it"] >= ITERATIONS}
    assert running, "the study was not caught with a running, checkpointed trial"
    assert not (storage / "pad_mnist" / "report.json").exists()

    # without --resume the half-done study is refused, not overwritten
    r = subprocess.run(study_cmd("pad_mnist", storage, data_root, *flags), capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    assert r.returncode == 2 and "holds an unfinished study; pass --resume" in r.stderr

    r = subprocess.run(study_cmd("pad_mnist", storage, data_root, *flags, "--resume"), capture_output=True,
                       text=True, cwd=REPO, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "restoring the interrupted search" in r.stdout
    report = json.loads((storage / "pad_mnist" / "report.json").read_text())
    assert report["expert_stage"]["trained"] == 0 and report["expert_stage"]["reused"] == 4
    rows = {t["trial"]: t for t in report["by_ipc"]["1"]["trials"]}
    # no trial failed; one whose sampled values diverge is a result (val_acc 0), not a failure
    assert len(rows) == 3 and all(e.startswith("diverged") for e in report["by_ipc"]["1"]["errors"].values())
    for trial, acc in finished.items():  # finished before the kill: kept as they were (a trial whose end
        # Tune had not yet snapshotted is restored from its final checkpoint and re-reports the same result)
        assert rows[trial]["val_acc"] == acc and rows[trial]["it"] == ITERATIONS
    for trial, it in running.items():  # running at the kill: continued from their checkpoint
        assert rows[trial]["resumed_from"] >= it > 0 and rows[trial]["it"] == ITERATIONS
    import optuna

    ostudy = optuna.load_study(study_name="pad_mnist-ipc1",
                               storage=f"sqlite:///{storage / 'pad_mnist' / 'optuna.db'}")
    complete = [t for t in ostudy.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3  # continued, not duplicated
    # a suggestion made just before the kill that never ran is closed, with the reason
    others = [t for t in ostudy.trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert all(t.state == optuna.trial.TrialState.FAIL and "dd_tune_orphaned" in t.system_attrs for t in others)
    assert {"best", "default", "random_real"} <= set(report["reeval"])
    assert not (storage / ".pad_mnist.lock").exists()  # the killed driver's lock was taken over, then given back


@pytest.mark.slow
def test_raising_trials_are_retried_from_their_checkpoint_or_reported_and_the_study_goes_on(tmp_path, data_root):
    storage = tmp_path / "runs"
    # One retry per trial. Every first attempt dies after its first report; the trials at 4 iterations
    # (the default point among them) die on every attempt. The others must continue from their
    # checkpoint and finish; the 4-iteration ones fail, the default set is distilled apart, and the
    # report names each failure.
    env = {**os.environ, "DD_TUNE_FAULT_AFTER_REPORTS": "1,1:iterations=4:always"}
    r = subprocess.run(study_cmd("dm_mnist", storage, data_root, "--set", "search.max_failures=1",
                                 "--set", "search.asha.enabled=false"),
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((storage / "dm_mnist" / "report.json").read_text())
    row = report["by_ipc"]["1"]
    assert len(row["trials"]) == 3
    failed = [t for t in row["trials"] if t["config"]["iterations"] == 4]
    retried = [t for t in row["trials"] if t["config"]["iterations"] != 4]
    assert failed and retried
    assert all(t["error"] is None and t["resumed_from"] > 0 for t in retried), retried
    assert row["n_errors"] == len(failed) == len(row["errors"])
    assert all("injected fault" in row["errors"][t["trial"]] for t in failed), row["errors"]
    # the chosen set is a retried trial's or the defaults distilled apart (the confirmation may prefer
    # them), never a failed trial's
    chosen = next(c for c in row["confirmation"]["rows"] if c["chosen"])
    assert chosen["name"] not in {t["trial"] for t in failed}
    assert chosen["is_default"] or chosen["name"] in {t["trial"] for t in retried}
    assert {"best", "default", "random_real"} <= set(report["reeval"])
    md = (storage / "dm_mnist" / "report.md").read_text()
    assert f"{len(failed)} failed: {len(failed)} raised" in md
    assert "Failed trials (the study went on without them):" in md


def _session_processes(sid: int) -> list[str]:
    """Processes still alive in the session the driver was started in (Ray's processes included)."""
    out = subprocess.run(["ps", "-eo", "sid=,pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if line.split() and line.split()[0] == str(sid) and "Z" not in line.split()[2]]


def _stop_at(storage: Path, data_root: Path, marker: str, sig: int, log: Path, *extra: str) -> tuple[int, str]:
    """Start the smoke dm_mnist study, send ``sig`` once ``marker`` appears in its output; its exit code
    and output (the driver runs in its own session, so its Ray processes can be found afterwards)."""
    with open(log, "w") as out:
        # Ctrl-C as in a terminal: a test run in the background inherits SIGINT ignored, and Python then
        # leaves it ignored in the child (as a shell's background job should)
        proc = subprocess.Popen(study_cmd("dm_mnist", storage, data_root, *extra), stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600
    try:
        while time.time() < deadline and proc.poll() is None and marker not in log.read_text():
            time.sleep(0.2)
        assert proc.poll() is None, f"the study ended before {marker!r}:\n{log.read_text()[-3000:]}"
        proc.send_signal(sig)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    time.sleep(5)  # Ray's processes get a moment to exit
    left = _session_processes(proc.pid)
    assert not left, "processes left running:\n" + "\n".join(left)
    return proc.returncode, log.read_text()


def driver_lines(out: str) -> str:
    """The driver's own output: without the lines Ray forwards from worker processes (``(dd_trainable
    pid=123) ...``). A worker Ray tears down while the driver stops may print Ray's own "Exception ignored"
    traceback from its SIGTERM handler, depending on what the worker was doing at that moment; what the
    user is told is the driver's part."""
    return "\n".join(line for line in out.splitlines() if not re.match(r"^(\x1b\[\d+m)?\(\w+ pid=\d+", line))


def test_worker_lines_are_told_from_the_drivers():
    out = "[dd_tune] x\n\x1b[36m(dd_trainable pid=27016)\x1b[0m Traceback (most recent call last):\nerror: y"
    assert driver_lines(out) == "[dd_tune] x\nerror: y"
    assert "Traceback" in driver_lines("Traceback (most recent call last):")


@pytest.mark.slow
def test_sigterm_in_the_search_and_ctrl_c_in_the_test_pass_stop_with_the_resume_hint(tmp_path, data_root):
    """Both signals, in the two long stages: exit 2, one `error:` line with the --resume hint, nothing left
    running, and --resume finishes the study (Tune's own Ctrl-C handler used to swallow a Ctrl-C given
    after the search; SIGTERM went to Ray's handler and aborted the driver)."""
    storage = tmp_path / "runs"
    rc, out = _stop_at(storage, data_root, " started (1 of 3): ", signal.SIGTERM, tmp_path / "term.log")
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    # Tune stops the search gracefully: the message says how far it got
    assert rc == 2 and len(errors) == 1 and "--resume" in errors[0] and "Traceback" not in driver_lines(out), \
        out[-3000:]
    assert "Tuner.restore" not in out  # one resume hint, dd_tune's: Ray's own is not printed at verbosity 0
    assert not (storage / ".dm_mnist.lock").exists()
    rc, out = _stop_at(storage, data_root, "[dd_tune] test pass", signal.SIGINT, tmp_path / "int.log", "--resume")
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert rc == 2 and errors == ["error: interrupted; finished work is kept: run the same command with --resume "
                                  "to continue"] and "Traceback" not in driver_lines(out), out[-3000:]
    assert not (storage / "dm_mnist" / "report.json").exists()
    r = subprocess.run(study_cmd("dm_mnist", storage, data_root, "--resume"), capture_output=True, text=True,
                       cwd=REPO, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (storage / "dm_mnist" / "report.json").exists()
