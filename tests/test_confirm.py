"""Choosing the tuned set: the confirmation and the evaluation-lr choice read the validation split only,
and every validation choice is made before the first test job; the proxy's fidelity statistics."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import pytest
import torch

from dd_tune.core.synset import SynSet
from dd_tune.records import Finalist, SetAccuracy, Tau
from dd_tune.records.fidelity import fidelity, kendall_tau, pooled_tau
from dd_tune.tune import lr_protocol
from dd_tune.tune.confirm import Candidate, choose, confirm, top_candidates, verdict
from dd_tune.tune.final_eval import EvalOutcome
from dd_tune.tune.finalists import Stage, run_test_pass


def _set(seed: int) -> SynSet:
    g = torch.Generator().manual_seed(seed)
    return SynSet(torch.randn(10, 1, 28, 28, generator=g), torch.arange(10), "mnist", 1, "dm")


# validation and test accuracy of each set: the test split would choose differently than validation
VAL = {"trial_a": 80.0, "trial_b": 85.0, "default": 82.0}
TEST = {"trial_a": 90.0, "trial_b": 70.0, "default": 75.0}


class FakeStage(Stage):
    """Answers evaluation jobs from VAL/TEST (+ a small per-model offset) and records the order of splits."""

    def __init__(self, lr_grid=(), lr_best=None, test_models=0) -> None:
        study = SimpleNamespace(final_eval=SimpleNamespace(archs=("convnet", "lenet"), models=3, lr_grid=lr_grid,
                                                           lr_select_models=2),
                                proxy_eval=SimpleNamespace(archs=("convnet",)),
                                search=SimpleNamespace(confirm=SimpleNamespace(max_eval_images=0,
                                                                               test_models=test_models)))
        super().__init__(study, None, 1, 0, None)
        self.splits: list[str] = []
        self.jobs: list = []
        self.lr_best = lr_best or {}

    def run(self, sets, jobs, label):
        out = {}
        for j in jobs:
            self.splits.append(j.split)
            self.jobs.append(j)
            name = {"best": "trial_b"}.get(j.set, j.set)  # the chosen finalist is tested as the "best" row
            base = (VAL if j.split == "val" else TEST).get(name, 60.0)
            if j.lr is not None:  # the validation split prefers lr_best[set]; the test split prefers 0.1
                prefer = self.lr_best.get(j.set, 0.01) if j.split == "val" else 0.1
                base += 5.0 if j.lr == prefer else 0.0
            out[j] = EvalOutcome(base + 0.1 * j.model, base, False, j.lr or 0.01, False)
        return out


def _finalist(name: str, mean: float, proxy: float | None, is_default: bool = False, chosen: bool = False) -> Finalist:
    """A confirmation row with its mean validation accuracy (one model)."""
    return Finalist(name, is_default, proxy, 100, {}, "convnet", SetAccuracy.of_runs([mean]), chosen=chosen)


def _candidates() -> list[Candidate]:
    return [Candidate("trial_a", {"lr_img": 2.0}, 88.0, 100, _set(1)),
            Candidate("trial_b", {"lr_img": 3.0}, 87.0, 100, _set(2)),
            Candidate("default", {"lr_img": 1.0}, 86.0, 100, _set(3), is_default=True)]


def test_the_confirmation_chooses_by_validation_and_never_asks_for_the_test_split():
    stage = FakeStage()
    rows = confirm(_candidates(), "convnet", 3, lambda jobs: stage.run({}, jobs, "confirmation"))
    assert set(stage.splits) == {"val"} and len(stage.splits) == 9
    assert [r.name for r in rows if r.chosen] == ["trial_b"]  # best on validation, worst on test
    assert rows[1].vs_default.diff == pytest.approx(3.0) and rows[1].vs_default.kind == "paired"
    assert "beat the reference defaults on validation by +3.00" in verdict(rows)

    def reads_test(jobs):
        return {j: EvalOutcome(TEST[j.set], 0.0, False, 0.01, False) for j in
                [j.__class__(**{**j.__dict__, "split": "test"}) for j in jobs]}

    with pytest.raises(AssertionError, match="validation"):
        confirm(_candidates(), "convnet", 2, reads_test)


def test_choose_reads_only_the_confirmation_rows_and_prefers_the_defaults_on_ties():
    rows = [_finalist("t", 80.0, 90.0), _finalist("default", 80.0, 70.0, is_default=True)]
    assert choose(rows) == "default"
    rows[0] = _finalist("t", 81.0, 90.0)
    assert choose(rows) == "t"
    assert verdict([dataclasses.replace(rows[1], chosen=True)]).startswith("No configuration beat the reference defaults")


def test_every_validation_choice_precedes_the_first_test_job_and_the_lr_is_chosen_on_validation():
    cands = _candidates()
    stage = FakeStage(lr_grid=(0.001, 0.01, 0.1), lr_best={"best": 0.001, "default": 0.01})
    sets = {"best": cands[1].source, "default": cands[2].source, "random_real_draw1": _set(4),
            "random_real_draw2": _set(5)}
    reeval, tests, lr_rows = run_test_pass(stage, sets, cands, cands[1])
    first_test = stage.splits.index("test")
    assert "val" not in stage.splits[first_test:]
    assert lr_rows["best"]["convnet"].choice.lr == 0.001 and lr_rows["default"]["lenet"].choice.lr == 0.01
    assert [c.lr for c in lr_rows["random_real"]["convnet"].choices] == [0.01, 0.01]
    # the same grid and the same number of models for every row
    assert set(lr_rows["best"]["convnet"].choice.val) == set(lr_rows["default"]["convnet"].choice.val) == {0.001, 0.01, 0.1}
    assert tests == {"trial_a": pytest.approx(91.0 - 0.9), "trial_b": pytest.approx(70.1), "default": pytest.approx(75.1)}
    assert reeval["best"]["convnet"].mean == pytest.approx(70.1) and reeval["random_real"]["convnet"].n == 2  # draws


def test_the_other_finalists_test_column_uses_test_models_and_the_rows_keep_the_protocols_models():
    cands = _candidates()
    stage = FakeStage(test_models=1)
    sets = {"best": cands[1].source, "default": cands[2].source}
    _, tests, _ = run_test_pass(stage, sets, cands, cands[1])
    per_set = {name: sorted((j.arch, j.model) for j in stage.jobs if j.set == name) for name in ("trial_a", "best")}
    assert per_set["trial_a"] == [("convnet", 0)]  # fidelity only: one model, the confirmation's arch
    assert per_set["best"] == [(a, k) for a in ("convnet", "lenet") for k in range(3)]
    assert tests["trial_a"] == pytest.approx(90.0)


def test_lr_choice_breaks_ties_towards_the_smaller_lr_and_refuses_test_jobs():
    jobs = lr_protocol.selection_jobs(["s"], ["convnet"], [0.1, 0.01], 1)
    same = {j: EvalOutcome(50.0, 50.0, False, j.lr, False) for j in jobs}
    assert lr_protocol.choose_lrs(same, ["s"], ["convnet"], [0.1, 0.01])["s"]["convnet"].lr == 0.01
    test = {j.__class__(**{**j.__dict__, "split": "test"}): o for j, o in same.items()}
    with pytest.raises(AssertionError, match="validation"):
        lr_protocol.choose_lrs(test, ["s"], ["convnet"], [0.1, 0.01])


def _result(name: str, acc: float, it: int, config: dict) -> SimpleNamespace:
    return SimpleNamespace(path=f"/x/{name}", metrics={"val_acc": acc, "it": it}, config=config, error=None,
                           checkpoint=object())


def test_top_candidates_takes_distinct_configs_and_adds_the_full_budget_defaults(monkeypatch):
    import dd_tune.tune.confirm as confirm_module

    monkeypatch.setattr(confirm_module, "_load", lambda r: f"set of {r.path}")
    default = {"lr_img": 1.0}
    grid = [_result("t1", 80.0, 50, default), _result("t2", 90.0, 100, {"lr_img": 2.0}),
            _result("t3", 90.0, 100, {"lr_img": 2.0}), _result("t4", 85.0, 100, {"lr_img": 3.0})]
    cands = top_candidates(grid, default, "re-distilled defaults", 2)
    assert [c.name for c in cands] == ["t02", "t04", "default"]  # folders t2, t4: Optuna numbers 2, 4
    assert cands[-1].is_default and cands[-1].proxy == 80.0 and cands[-1].source == "re-distilled defaults"
    full = _set(0)
    cands = top_candidates(grid, default, full, 3)  # the default trial's own set (it ran the full budget)
    assert [c.name for c in cands] == ["t02", "t04", "t01"] and cands[-1].is_default and cands[-1].source is full


def test_kendall_tau_b_matches_scipy_with_ties_and_pooling_counts_within_group_pairs():
    from scipy import stats

    rnd = random.Random(0)
    for _ in range(20):
        n = rnd.randint(2, 9)
        xs = [rnd.choice([1.0, 2.0, 3.0, 4.0]) for _ in range(n)]
        ys = [rnd.choice([1.0, 2.0, 3.0]) for _ in range(n)]
        ours, ref = kendall_tau(xs, ys).tau, stats.kendalltau(xs, ys).statistic
        assert (ours is None and ref != ref) or ours == pytest.approx(ref)
    assert kendall_tau([1, None, 3], [1, 2, 2]) == Tau(1.0, 2)
    pooled = pooled_tau([([1, 2, 3], [1, 2, 3]), ([1, 2], [2, 1]), ([5], [5])])
    assert (pooled.tau, pooled.pairs, pooled.n, pooled.groups) == (pytest.approx((3 - 1) / 4), 4, 5, 2)


def test_fidelity_regret_of_the_proxy_pick_and_of_the_confirmation_pick():
    rows = [_finalist("a", 80.0, 90.0), _finalist("b", 84.0, 85.0, chosen=True),
            _finalist("default", 82.0, None, is_default=True)]
    fid = fidelity(rows, {"a": 70.0, "b": 78.0, "default": 79.0})
    assert fid.regret_proxy == pytest.approx(9.0) and fid.regret_confirmation == pytest.approx(1.0)
    assert fid.proxy_vs_confirmation == Tau(-1.0, 2) and fid.confirmation_vs_test.n == 3
