"""The trial loop in-process (no Ray): reports, resume, divergence, and contracts of every method."""

from __future__ import annotations

import math

import pytest
import torch

from dd_tune.config import parse_overrides
from dd_tune.core.evaluation import model_spec_for
from dd_tune.methods import METHODS, DistillContext, build_distiller
from dd_tune.methods.configs import load_study
from dd_tune.search.setup import TrialSetup
from dd_tune.search.trainable import METRIC, config_index, run_trial

TINY = ["distill.iterations=4", "distill.batch_real=4", "search.report_every=2",
        "proxy_eval.epochs=2", "proxy_eval.models=1", "proxy_eval.max_eval_images=100"]


def setup_for(data_root, extra=()) -> TrialSetup:
    study = load_study("dm_mnist", "smoke", parse_overrides([*TINY, *extra]))
    return TrialSetup(study, 1, str(data_root), use_gpu=False, threads=1)


def collect(setup, config, restore=None):
    reports = []
    run_trial(config, setup, config_index(config), lambda m, s, syn: reports.append((m, s, syn)), restore)
    return reports


def test_every_report_carries_the_metric_and_progress(data_root):
    reports = collect(setup_for(data_root), {"lr_img": 1.0, "iterations": 4})
    assert [m["it"] for m, _, _ in reports] == [2, 4]
    for m, _, syn in reports:
        assert 0.0 <= m[METRIC] <= 100.0 and math.isfinite(m["loss"]) and m["diverged"] == 0
        assert syn.images.shape == (10, 1, 28, 28)


def test_resume_from_a_report_state_reproduces_the_uninterrupted_trial(data_root):
    setup = setup_for(data_root)
    config = {"lr_img": 2.0, "iterations": 4}
    full = collect(setup, config)
    resumed = collect(setup, config, restore=full[0][1])
    assert [m["it"] for m, _, _ in resumed] == [4]
    torch.testing.assert_close(resumed[-1][2].images, full[-1][2].images)
    assert resumed[-1][0][METRIC] == full[-1][0][METRIC]


def test_divergence_is_reported_not_raised(data_root):
    reports = collect(setup_for(data_root), {"lr_img": 1e30, "iterations": 4})
    last = reports[-1][0]
    assert last["diverged"] in (1, 2) and last[METRIC] == 0.0  # its cause's code (base.keys.DIVERGED_CAUSES)


def test_a_diverged_trials_reason_names_the_one_cause_that_happened():
    from types import SimpleNamespace

    from dd_tune.search.trial_rows import failure

    def reason(code: int) -> str | None:
        return failure(SimpleNamespace(error=None, metrics={"diverged": code, "it": 40, "loss": float("nan")}))

    assert reason(1) == "diverged at iteration 40: no finite loss in a report interval (loss nan)"
    assert reason(2).startswith("diverged at iteration 40: the learned state (synthetic set, learned step size)")
    assert reason(3) == "diverged at iteration 40: the proxy evaluation's accuracy was not finite (loss nan)"
    assert reason(0) is None and all(" or " not in reason(c) for c in (1, 2, 3))


def test_config_index_is_stable():
    assert config_index({"a": 1, "b": "x"}) == config_index({"b": "x", "a": 1})
    assert config_index({"a": 1}) != config_index({"a": 2})


# Tiny settings per method; a newly registered method without an entry fails here on purpose.
CONTRACT_OVERRIDES = {
    "dm": {"iterations": 2, "batch_real": 4},
    "datadam": {"iterations": 2, "batch_real": 4},
    "random_real": {},
    "pad": {"iterations": 2, "syn_steps": 2, "expert_epochs": 1, "current_max_start_epoch": 1,
            "max_start_epoch": 2, "experts": {"num_experts": 2, "epochs": 3, "batch_size": 128,
                                              "difficulty": {"models": 1, "epochs": 0}}},
}


@pytest.mark.parametrize("method", METHODS.names())
def test_method_contract(method, mnist, tmp_path_factory):
    """Every registered method: finite metrics, synthetic set changes, deterministic, state round-trip."""
    from dd_tune.core.splits import ClassIndexedData
    from dd_tune.experts import ExpertCache, ExpertStore
    from dd_tune.methods.configs import build_method_config

    assert method in CONTRACT_OVERRIDES, f"add tiny contract settings for {method!r}"
    spec = mnist.spec
    cfg = build_method_config(method, CONTRACT_OVERRIDES[method], "contract")
    idx = mnist.train.sample_per_class(20, torch.Generator().manual_seed(0)).flatten()
    data = ClassIndexedData(mnist.train.images[idx], mnist.train.labels[idx], 10)
    model = model_spec_for("convnet", spec)
    store = ExpertStore(ExpertCache(tmp_path_factory.mktemp("experts")), data, "mnist", 0.1, 0, model,
                        spec.dsa_strategy, compute_missing=True)

    def make(seed):
        ctx = DistillContext(data, spec, model, 1, torch.Generator().manual_seed(seed), spec.dsa_strategy,
                             experts=store)
        return build_distiller(method, cfg, ctx)

    a, b = make(0), make(0)
    before = a.synset().images.clone()
    ma = a.run(a.total_iterations)
    mb = b.run(b.total_iterations)
    assert ma == mb and all(math.isfinite(v) for v in ma.values())
    torch.testing.assert_close(a.synset().images, b.synset().images)
    if a.total_iterations:
        assert not torch.equal(a.synset().images, before)
    c = make(5)
    c.load_state_dict(a.state_dict())
    torch.testing.assert_close(c.synset().images, a.synset().images)
    assert c.iteration == a.iteration


def test_fault_rules_first_attempt_always_and_matching(data_root):
    import dataclasses

    from dd_tune.base.errors import ConfigError
    from dd_tune.search.faults import fault_rules

    assert fault_rules("") == ()
    assert fault_rules("1, 2:iterations=4:always") == ((1, "", "", False), (2, "iterations", "4", True))
    setup = dataclasses.replace(setup_for(data_root), fault="1,1:iterations=4:always")
    four, eight = {"iterations": 4}, {"iterations": 8}
    assert setup.should_fault(eight, 1, restored=False) and not setup.should_fault(eight, 1, restored=True)
    assert setup.should_fault(four, 1, restored=True)  # "always": the retry dies too
    assert not setup.should_fault(four, 2, restored=True) and not setup.should_fault(eight, 2, restored=False)
    for bad in ("x", "0", "1:iterations", "1:a=1:b=2", "1:=3", "1:always:a=1"):
        with pytest.raises(ConfigError, match="N\\[:key=value\\]\\[:always\\]"):
            fault_rules(bad)


def _patched_losses(monkeypatch, losses):
    """DM steps that report ``losses`` in turn without touching the images (a method that skips a bad
    update, as PAD does)."""
    from dd_tune.methods.dm import DMDistiller

    it = iter(losses)
    monkeypatch.setattr(DMDistiller, "step", lambda self: {"loss": next(it)})


def test_one_skipped_nonfinite_step_does_not_kill_the_trial(data_root, monkeypatch):
    _patched_losses(monkeypatch, [float("nan"), 1.0, 3.0, 5.0])
    reports = collect(setup_for(data_root), {"lr_img": 1.0, "iterations": 4})
    first, last = reports[0][0], reports[-1][0]
    assert first["diverged"] == 0 and first["loss"] == 1.0 and first["nonfinite_steps"] == 1
    assert last["diverged"] == 0 and last[METRIC] > 0 and last["it"] == 4


def test_an_interval_without_a_finite_loss_diverges(data_root, monkeypatch):
    _patched_losses(monkeypatch, [1.0, 2.0, float("nan"), float("inf")])
    reports = collect(setup_for(data_root), {"lr_img": 1.0, "iterations": 4})
    assert [m["diverged"] for m, _, _ in reports] == [0, 1] and reports[-1][0][METRIC] == 0.0


def test_a_trial_restored_from_its_final_checkpoint_reports_the_result_without_its_work_again(data_root):
    setup = setup_for(data_root)
    config = {"lr_img": 2.0, "iterations": 4}
    full = collect(setup, config)
    again = collect(setup, config, restore=full[-1][1])
    assert len(again) == 1
    first, repeat = full[-1][0], again[0][0]
    assert repeat[METRIC] == first[METRIC] and repeat["it"] == first["it"] == 4
    # the distillation and evaluation were done (and timed) once: a sum over reports counts them once
    assert repeat["distill_s"] == repeat["eval_s"] == 0.0 and first["distill_s"] > 0 and first["eval_s"] > 0
    assert repeat["reported_at"] > first["reported_at"]


def test_the_initial_images_row_is_the_tuned_trials_own_start(data_root):
    """``best_start`` (the tuned trial's images before any distillation step) repeats the trial's own
    draws: a trial whose images barely move (lr_img 1e-9) ends where that set is; another seed does not."""
    from dd_tune.tune.sets import distill_task

    setup = setup_for(data_root)
    config = {"lr_img": 1e-9, "iterations": 2, "init": "real", "factor": 2}
    _, _, moved = collect(setup, config)[-1]
    start = distill_task(setup, config, config_index(config), run=False)
    assert start.images.shape == moved.images.shape == (10, 1, 28, 28) and start.factor == 2
    assert torch.allclose(start.images, moved.images, atol=1e-5)
    other = distill_task(setup, config, config_index(config) + 1, run=False)
    assert (other.images - start.images).abs().max() > 0.1  # another random real draw
    distilled = distill_task(setup, {**config, "lr_img": 1.0}, config_index(config))
    assert (distilled.images - start.images).abs().max() > 1e-3


_UNRAISABLE = """
import sys
from dd_tune.base.exit_notice import quiet_exit_on_sigterm

class Dies:
    def __init__(self, error):
        self.error = error

    def __del__(self):
        raise self.error

quiet_exit_on_sigterm()
quiet_exit_on_sigterm()  # a reused worker installs it once, not a chain of hooks
Dies(SystemExit("The process receives a SIGTERM."))
Dies(ValueError("a real fault"))
"""


def test_a_worker_stopped_by_sigterm_prints_no_notice_but_other_unraisable_errors_still_show():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _UNRAISABLE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SIGTERM" not in done.stderr and "SystemExit" not in done.stderr
    assert done.stderr.count("Exception ignored in") == 1 and "ValueError: a real fault" in done.stderr


def test_every_task_of_a_study_installs_the_filter_where_it_loads_its_data(data_root, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    setup_for(data_root).data()
    assert getattr(sys.unraisablehook, "dd_tune_quiet_exit", False)
