"""Reproducible studies: the deterministic search (dd_tune.search.ordered) on made-up trials (fast), and the
same smoke study run with trials finishing in different orders, and across a kill -9 (slow)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from dd_tune.search import ordered

# four batches of two trials; each trial's proxy curve at the distillation iteration (rungs 2 and 4)
CURVES = {0: {2: 50.0, 4: 60.0, 6: 61.0}, 1: {2: 40.0, 4: 45.0}, 2: {2: 55.0, 4: 58.0}, 3: {2: 30.0},
          4: {2: 52.0, 4: 62.0}, 5: {2: 41.0}, 6: {2: 56.0, 4: 59.0}, 7: {2: 45.0}}


def test_rungs_and_cut_are_those_of_rays_asha():
    from ray.tune.schedulers.async_hyperband import _Bracket

    for min_t, max_t, rf in ((2, 6, 2), (50, 150, 3), (50, 200, 2), (1, 81, 3)):
        bracket = _Bracket(min_t, max_t, rf, 0)
        assert ordered.milestones(min_t, max_t, rf) == sorted(m for m, _ in bracket._rungs)
    values = [3.0, 1.0, float("nan"), 7.5, 2.25]
    for rf in (2, 3, 4):
        assert ordered.cutoff(values, rf) == pytest.approx(np.nanpercentile(values, (1 - 1 / rf) * 100))
    assert ordered.cutoff([], 2) is None and ordered.cutoff([float("nan")], 2) is None


def _decisions(arrivals: list[tuple[int, int]]) -> dict[tuple[int, int], bool]:
    """Each (trial, step) decided as results arrive in ``arrivals`` order; a trial stopped at a rung reports
    nothing after it. ``curves`` sees only what has arrived, as the Optuna storage would."""
    seen: dict[int, dict[int, float]] = {}
    stopped: set[int] = set()
    out = {}
    for trial, step in arrivals:
        if trial in stopped or step not in CURVES[trial]:
            continue
        seen.setdefault(trial, {})[step] = CURVES[trial][step]

        def curves(before: int) -> dict[int, dict[int, float]]:
            return {n: dict(c) for n, c in seen.items() if n < before}

        out[(trial, step)] = ordered.decide(trial, step, CURVES[trial][step], curves, [2, 4], 2, 2)
        if not out[(trial, step)]:
            stopped.add(trial)
    return out


def _asha_decisions(arrivals: list[tuple[int, int]]) -> dict[tuple[int, int], bool]:
    """Ray's ASHA bracket fed the same arrivals: what today's scheduling decides."""
    from ray.tune.schedulers.async_hyperband import _Bracket

    class Trial:
        def __init__(self, n: int) -> None:
            self.trial_id = str(n)

    bracket, stopped, out = _Bracket(2, 6, 2, 0), set(), {}
    for trial, step in arrivals:
        if trial in stopped or step not in CURVES[trial]:
            continue
        out[(trial, step)] = bracket.on_result(Trial(trial), step, CURVES[trial][step]) == "CONTINUE"
        if not out[(trial, step)]:
            stopped.add(trial)
    return out


def _batched_arrivals(rng: random.Random) -> list[tuple[int, int]]:
    """Results as a batched search produces them: batch b's trials interleave in any order, and batch b+1
    starts after batch b has ended."""
    out = []
    for b in range(4):
        pending = {n: [2, 4, 6] for n in (2 * b, 2 * b + 1)}
        while pending:
            n = rng.choice(sorted(pending))
            out.append((n, pending[n].pop(0)))
            if not pending[n]:
                del pending[n]
    return out


def test_early_stopping_is_order_free_where_rays_asha_is_not():
    orders = [_batched_arrivals(random.Random(seed)) for seed in range(40)]
    ours = {json.dumps(sorted((f"{k}", v) for k, v in _decisions(a).items())) for a in orders}
    assert len(ours) == 1  # one set of decisions whatever the order
    decided = _decisions(orders[0])
    assert decided[(0, 2)] and decided[(1, 2)] and decided[(1, 4)]  # the first batch has nothing to compare with
    # batch 1 against batch 0 only: the median of 50 and 40 is 45, so 55 goes on and 30 stops
    assert decided[(2, 2)] and not decided[(3, 2)]
    # batch 2 against batches 0-1: rung 2's median of 50, 40, 55, 30 is 45 (41 stops); rung 4's of 60, 45, 58
    # is 58 (62 goes on)
    assert not decided[(5, 2)] and decided[(4, 2)] and decided[(4, 4)]
    assert not decided[(7, 2)] and decided[(6, 4)]  # 45 < 45.5; 59 is not below rung 4's 59
    theirs = {json.dumps(sorted((f"{k}", v) for k, v in _asha_decisions(a).items())) for a in orders}
    assert len(theirs) > 1  # today's ASHA: the decisions depend on which result arrived first


def test_a_suggestion_is_a_function_of_its_number_and_the_finished_history():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "k": optuna.distributions.IntDistribution(1, 9)}

    def ask_numbers(asks_before: int) -> dict[str, float]:
        study = optuna.create_study(sampler=ordered.NumberSeededTPE(7, n_startup_trials=2), direction="maximize")
        for i in range(4):  # the same finished history
            study.add_trial(optuna.trial.create_trial(params={"x": i / 4, "k": i + 1}, distributions=space,
                                                      value=float(i)))
        for _ in range(asks_before):  # other trials asked (still running) before: they draw random numbers
            study.ask(space)
        trial = study.ask(space)
        return {"number": trial.number, **trial.params}

    a = ask_numbers(0)
    b = ask_numbers(0)
    assert a == b
    # the same number after other asks that drew random numbers: the draw is the number's, not the order's
    c, d = ask_numbers(1), ask_numbers(1)
    assert c == d and c["number"] == 5 and a["number"] == 4
    assert c != {**a, "number": 5}  # numbers 4 and 5 draw differently (not one stream replayed)
    assert not ordered.NumberSeededTPE(7)._constant_liar  # running trials never enter the model


@pytest.mark.parametrize("history", [1, 5])  # 1: the random start-up draws (one after another); 5: TPE (jointly)
def test_a_suggestion_cut_short_by_a_kill_is_completed_with_the_values_of_an_uninterrupted_ask(history):
    import optuna

    from dd_tune.search.optuna_search import complete_orphan, orphan_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"a": optuna.distributions.FloatDistribution(0, 1), "b": optuna.distributions.IntDistribution(1, 9),
             "c": optuna.distributions.FloatDistribution(1e-3, 1, log=True),
             "d": optuna.distributions.CategoricalDistribution(["x", "y", "z"])}

    def study_with_history() -> optuna.Study:
        study = optuna.create_study(sampler=ordered.NumberSeededTPE(3, n_startup_trials=2), direction="maximize")
        for i in range(history):
            study.add_trial(optuna.trial.create_trial(
                params={"a": i / 5, "b": i + 1, "c": 10 ** -(i % 3), "d": "xyz"[i % 3]}, distributions=space,
                value=float(i % 3)))
        return study

    def resumed(kept: int, complete: Callable[[Any], None]) -> dict[str, Any]:
        study = study_with_history()
        study.ask({k: space[k] for k in list(space)[:kept]})  # the kill fell after `kept` parameters were stored
        orphan = orphan_trial(study, "resumed", {})["resumed"]  # what the resumed search takes up again
        complete(orphan)
        assert orphan.number == history
        return study.trials[-1].params

    whole = study_with_history().ask(space).params
    for kept in range(len(space) + 1):
        assert resumed(kept, lambda orphan: complete_orphan(orphan, space)) == whole, kept
    # control: drawing only the missing parameters gives another configuration where the draws are sequential
    naive = resumed(1, lambda orphan: [orphan._suggest(name, space[name]) for name in ("b", "c", "d")])
    assert (naive != whole) == (history == 1)


def test_the_limiter_tells_a_batch_in_trial_number_order(monkeypatch):
    from ray.tune.search import Searcher

    from dd_tune.search import trial_names

    monkeypatch.setattr(trial_names, "NUMBERS", {})  # this test's trial ids stay out of other tests' names

    told: list[str] = []

    class Recorder(Searcher):
        def set_max_concurrency(self, n: int) -> bool:
            return False

        def suggest(self, trial_id: str) -> dict:
            return {"x": 1}

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            told.append(trial_id)

    limiter = ordered.NumberOrderLimiter(Recorder(metric="val_acc", mode="max"), max_concurrent=3, batch=True)
    for number, tid in ((6, "c"), (7, "a"), (8, "b")):
        trial_names.record(tid, number)
        assert limiter.suggest(tid) == {"x": 1}
    assert limiter.suggest("d") is None  # the batch is full
    for tid in ("b", "a"):
        limiter.on_trial_complete(tid, {"val_acc": 1.0})
    assert told == []  # nothing before the whole batch has ended
    limiter.on_trial_complete("c", {"val_acc": 1.0})
    assert told == ["c", "a", "b"]  # numbers 6, 7, 8
    assert limiter.suggest("d") == {"x": 1}  # the next batch


def _result(trials: list[tuple[str, float, int]], chosen: dict, test: list[float], code: str = "c1"):
    from factories import acc, ipc_result, study_result

    from dd_tune.report.fingerprint import inputs_fingerprint, outcome_digest

    row = ipc_result(trials=[{"trial": t, "config": {"lr_img": 1.0}, "val_acc": v, "it": it, "error": None,
                              "elapsed_s": 3.0 + i} for i, (t, v, it) in enumerate(trials)],
                     best_config=chosen, reeval={"best": {"convnet": acc(test)}})
    import dataclasses

    inputs = inputs_fingerprint("k", code, "d", {"torch": "2"})
    result = study_result({"1": row}, fingerprint=inputs)
    return dataclasses.replace(result, fingerprint=dataclasses.replace(inputs, outcome=outcome_digest(result)))


def test_the_fingerprint_and_the_first_trial_where_two_studies_part(tmp_path, capsys):
    from dd_tune.commands.results import main
    from dd_tune.report.fingerprint import differences

    trials = [("t00", 60.0, 4), ("t01", 53.0, 6), ("t02", 40.0, 2)]
    a = _result(trials, {"lr_img": 1.0}, [70.0, 71.0])
    same = _result(list(reversed(trials)), {"lr_img": 1.0}, [70.0, 71.0], code="c2")  # another row order and code
    assert same.fingerprint.outcome == a.fingerprint.outcome  # timing and order are not the outcome
    assert same.fingerprint.inputs != a.fingerprint.inputs
    assert differences(a, same) == ["inputs differ in the code"]
    forked = _result([("t00", 60.0, 4), ("t01", 46.0, 4), ("t02", 41.0, 2)], {"lr_img": 0.5}, [69.0, 71.0])
    lines = differences(a, forked)
    assert lines[0] == "IPC 1: the first trial where they part is t01: val_acc 53.0 vs 46.0; it 6 vs 4"
    assert lines[1].startswith("IPC 1: the chosen configurations differ") and "best" in lines[2]
    for name, result in (("a", a), ("same", same), ("forked", forked)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(result.to_dict()))
    assert main([str(tmp_path / "a"), str(tmp_path / "same"), "--diff"]) == 0
    assert "the same outcome" in capsys.readouterr().out
    assert main([str(tmp_path / "a"), str(tmp_path / "forked"), "--diff"]) == 1
    assert "the first trial where they part is t01" in capsys.readouterr().out
    assert main([str(tmp_path / "a"), "--diff"]) == 2
    assert "--diff compares two studies" in capsys.readouterr().err
    assert main([str(tmp_path), str(tmp_path / "a"), "--diff"]) == 2  # a storage of three studies
    assert "holds 3" in capsys.readouterr().err


def test_the_time_table_states_what_the_batches_cost():
    from factories import ipc_result

    from dd_tune.report.timing import batch_lines, batch_wait

    ends = {"t00": 10.0, "t01": 14.0, "t02": 20.0, "t03": 21.5, "t04": 30.0}
    trials = [{"trial": t, "ended_at": e} for t, e in ends.items()]
    row = ipc_result(trials=trials, timing={"slots": 2, "search_s": 40.0, "batch": 2})
    assert batch_wait(row) == pytest.approx(4.0 + 1.5 + 0.0)  # t00 waited for t01, t02 for t03; t04 alone
    assert batch_lines(row) == [
        "Deterministic search (batches of 2 trials, search.deterministic): trial slots waited 6 slot-seconds in "
        "all for the slowest trial of their batch (6.9 % of the search's 80 slot-seconds); part of the \"Ray "
        "scheduling and idle slots\" row.", ""]
    assert batch_lines(ipc_result(trials=trials, timing={"slots": 2, "search_s": 40.0, "batch": 0})) == []
    assert batch_wait(ipc_result(trials=[{"trial": "t00"}], timing={"batch": 2})) is None  # an earlier version's


REPO = Path(__file__).resolve().parents[1]
SAMPLES = 8


def _study(storage: Path, data_root: Path, delay: str, *extra: str, wait: bool = True,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    import sys

    env = {**os.environ, "DD_TUNE_TASK_DELAY": delay, "TUNE_GLOBAL_CHECKPOINT_S": "1", **(env or {})}
    cmd = [sys.executable, "-m", "dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage", str(storage),
           "--data-root", str(data_root), "--num-cpus", "2", "--set", f"search.num_samples={SAMPLES}", *extra]
    log = open(storage.parent / f"{storage.name}.log", "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
    if wait:
        assert proc.wait(timeout=900) == 0, (storage.parent / f"{storage.name}.log").read_text()[-3000:]
    return proc


SUMMARY = re.compile(r"\[dd_tune\] |report: |tensorboard --logdir |ipc \d+ +\w+ +convnet |$")


def _foreign_lines(console: str) -> list[str]:
    """The lines of a study's console that dd_tune did not print (warnings and notices of the libraries)."""
    return [line for line in console.splitlines() if not SUMMARY.match(line)]


def test_the_console_check_sees_a_library_warning():
    console = "[dd_tune] study dm_mnist: starting\nreport: r.md\nipc 1 best         convnet 50.50±8.63  lenet 8.5\n"
    assert not _foreign_lines(console)
    assert _foreign_lines(console + "2026-12-07 WARNING authentication_token_setup.py:85 -- Token authentication")


def _outcome(storage: Path) -> dict:
    """What must not depend on timing: every Optuna trial, the chosen trial, the test rows."""
    import optuna

    study = optuna.load_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{storage / 'dm_mnist' / 'optuna.db'}")
    trials = [(t.number, t.params, t.value, t.state.name, dict(t.intermediate_values)) for t in study.trials]
    report = json.loads((storage / "dm_mnist" / "report.json").read_text())
    row = report["by_ipc"]["1"]
    return {"trials": trials, "chosen": row["best_config"],
            "test": {name: {arch: e["runs"] for arch, e in by_arch.items()} for name, by_arch in row["reeval"].items()},
            "order": [t["trial"] for t in sorted(row["trials"], key=lambda t: t.get("ended_at") or math.inf)],
            "fingerprint": report["fingerprint"]}


@pytest.mark.slow
def test_the_same_study_whatever_order_its_trials_finish_in_and_across_a_kill(tmp_path, data_root):
    runs = {}
    for name, delay in (("even_slow", "trial_even=12"), ("odd_slow", "trial_odd=12")):
        _study(tmp_path / name, data_root, delay)
        runs[name] = _outcome(tmp_path / name)
    a, b = runs["even_slow"], runs["odd_slow"]
    assert len(a["trials"]) == SAMPLES and {t[3] for t in a["trials"]} <= {"COMPLETE", "PRUNED"}
    assert "PRUNED" in {t[3] for t in a["trials"]}  # early stopping took part
    assert a["order"] != b["order"]  # the delays did change which trials finished first
    assert a["trials"] == b["trials"] and a["chosen"] == b["chosen"] and a["test"] == b["test"]
    assert a["fingerprint"] == b["fingerprint"]  # inputs and outcome: one command compares two runs
    # the console at verbosity 0: dd_tune's lines and its closing summary, nothing from Ray, torch or Optuna
    assert not _foreign_lines((tmp_path / "even_slow.log").read_text())
    from dd_tune.commands.results import main

    assert main([str(tmp_path / "even_slow" / "dm_mnist"), str(tmp_path / "odd_slow" / "dm_mnist"), "--diff"]) == 0

    # kill -9 in the middle of the search, then --resume: the same study again. The driver dies while it asks
    # Optuna for trial 5, two of its parameters stored (the moment that once broke the resume: DD_TUNE_KILL_IN_ASK)
    killed = tmp_path / "killed"
    killed.mkdir()
    proc = _study(killed, data_root, "trial_even=12", wait=False, env={"DD_TUNE_KILL_IN_ASK": "5:2"})
    try:
        proc.wait(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # what the driver left running (Ray's processes)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (killed / "dm_mnist" / "report.json").exists()
    import optuna

    cut = optuna.load_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{killed / 'dm_mnist' / 'optuna.db'}")
    assert len(cut.trials) == 6 and len(cut.trials[5].params) == 2 and cut.trials[5].state.name == "RUNNING"
    _study(killed, data_root, "trial_odd=12", "--resume")
    resumed = _outcome(killed)
    assert resumed["trials"] == a["trials"] and resumed["chosen"] == a["chosen"] and resumed["test"] == a["test"]
    assert resumed["fingerprint"]["outcome"] == a["fingerprint"]["outcome"]
