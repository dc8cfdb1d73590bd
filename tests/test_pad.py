"""PAD on tiny real data with tiny experts: window, unrolled matching, init, presets, state."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from dd_tune.base.errors import ConfigError, DataError
from dd_tune.config import to_dict
from dd_tune.core.datasets import DATASETS
from dd_tune.core.models import ModelSpec
from dd_tune.core.splits import ClassIndexedData
from dd_tune.experts import ExpertCache, ExpertConfig, ExpertStore
from dd_tune.experts.difficulty import DifficultyConfig
from dd_tune.experts.schedule import ScheduleConfig
from dd_tune.methods import DistillContext, build_distiller
from dd_tune.methods.configs import build_method_config
from dd_tune.methods.pad import PADConfig, start_window

TINY_EXPERTS = ExpertConfig(num_experts=2, epochs=3, batch_size=64,
                            schedule=ScheduleConfig(init_ratio=0.5, add_end_epoch=1, rm_epoch_first=2,
                                                    rm_epoch_second=2),
                            difficulty=DifficultyConfig(models=1, epochs=1))
TINY = PADConfig(iterations=3, syn_steps=2, expert_epochs=1, current_max_start_epoch=1, max_start_epoch=2,
                 expansion_end_epoch=2, lr_img=10.0, threshold=10.0, experts=TINY_EXPERTS)
MODEL = ModelSpec(width=16)


@pytest.fixture(scope="module")
def small(mnist):
    idx = mnist.train.sample_per_class(30, torch.Generator().manual_seed(0)).flatten()
    return ClassIndexedData(mnist.train.images[idx], mnist.train.labels[idx], 10)


@pytest.fixture(scope="module")
def store(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("experts")
    return ExpertStore(ExpertCache(root), small, "mnist", 0.1, 0, MODEL, "color_crop_cutout_scale_rotate",
                       compute_missing=True)


def make(small, store, cfg=TINY, seed=0, ipc=2):
    ctx = DistillContext(small, DATASETS.get("mnist"), MODEL, ipc, torch.Generator().manual_seed(seed),
                         "color_crop_cutout_scale_rotate", experts=store)
    return build_distiller("pad", cfg, ctx)


def test_start_window_widens_then_stays():
    cfg = PADConfig(min_start_epoch=0, current_max_start_epoch=10, max_start_epoch=20, expansion_end_epoch=1000)
    assert start_window(cfg, 0) == (0, 10)
    assert start_window(cfg, 500) == (0, 15)
    assert start_window(cfg, 5000) == (0, 20)
    assert start_window(dataclasses.replace(cfg, sequential_generation=False), 0) == (0, 20)


def test_experts_must_cover_the_window():
    with pytest.raises(ConfigError, match="exceeds the experts' 3 epochs"):
        build_method_config("pad", {"max_start_epoch": 3, "current_max_start_epoch": 2,
                                    "experts": {"epochs": 3}}, "t")


def test_presets_datm_and_mtt():
    datm = build_method_config("pad", {"preset": "datm"}, "t")
    assert datm.select_ratio == 0 and not datm.experts.schedule.enabled and datm.soft_labels
    assert (datm.batch_syn, datm.init, datm.threshold, datm.syn_steps) == (100, "correct", 1.0, 80)
    mtt = build_method_config("pad", {"preset": "mtt"}, "t")
    assert (mtt.soft_labels, mtt.init, mtt.experts.epochs, mtt.experts.schedule.enabled) == (False, "real", 50, False)
    assert (mtt.select_ratio, mtt.threshold, mtt.sequential_generation) == (0.0, None, False)
    assert (mtt.syn_steps, mtt.expert_epochs, mtt.max_start_epoch, mtt.lr_img, mtt.lr_lr, mtt.syn_lr_init) == \
        (30, 2, 20, 1000.0, 1e-5, 0.01)


def test_config_defaults_are_the_pad_preset():
    cfg, preset = PADConfig(), PADConfig.PRESETS["pad"]
    for key, value in preset.items():
        if key != "experts":
            assert getattr(cfg, key) == value, key
    assert (cfg.experts.epochs, cfg.experts.schedule.enabled) == (100, True)
    assert (cfg.experts.optimizer, cfg.experts.difficulty.score) == ("gsam", "grand")  # PAD's expert recipe
    assert to_dict(cfg) == to_dict(build_method_config("pad", {}, "t"))


@pytest.mark.parametrize("preset", ["pad", "datm", "mtt"])
def test_choosing_a_preset_on_a_pad_study_gives_that_method(preset):
    """The study file's PAD values give way to the chosen preset on every key where that preset differs
    from PAD (select_ratio, init, ...); the study's other deviations and its budget stay; explicit --set
    keys still win."""
    from dd_tune.methods.configs import load_study

    study = load_study("pad_mnist", "default", [("distill.preset", preset)])
    expected = PADConfig.PRESETS[preset]
    got = study.distill
    if preset == "pad":  # no switch: the study's own values (written for PAD, window scaled) stay
        assert (got.select_ratio, got.init, got.soft_labels, got.threshold) == (0.5, "correct", True, 1.0)
        assert (got.experts.epochs, got.max_start_epoch, got.experts.schedule.enabled) == (50, 10, True)
    else:  # the keys that make the other method take its values; the study's other deviations stay
        identity = {k: v for k, v in expected.items() if k != "experts" and PADConfig.PRESETS["pad"][k] != v}
        assert identity  # every other preset differs from PAD somewhere
        for key, value in identity.items():
            assert getattr(got, key) == value, (preset, key)
        assert got.experts.epochs == 50  # the study's halving (DATM: like PAD's 100; MTT's own 50)
        assert got.experts.schedule.enabled == expected["experts"]["schedule"]["enabled"]
        # PAD = DATM = MTT on max_start_epoch: the study's halved window stays; on syn_steps too for DATM
        assert got.max_start_epoch == 10 and (preset != "datm" or got.syn_steps == 80)
        assert got.experts.schedule.add_end_epoch == 10  # the study's halved schedule
    assert (got.iterations, got.experts.num_experts) == (5000, 20)  # the study's budget
    mtt = load_study("pad_mnist", "default", [("distill.preset", "mtt"), ("distill.syn_steps", 12),
                                              ("distill.threshold", 2.0)]).distill
    assert (mtt.syn_steps, mtt.threshold, mtt.soft_labels) == (12, 2.0, False)


def test_mtt_preset_never_skips_on_the_threshold(small, store):
    cfg = dataclasses.replace(TINY, threshold=None)
    d = make(small, store, cfg)
    assert d.run(2)["skipped"] == 0.0 and d.counters()["skipped_threshold"] == 0


def test_a_nonfinite_loss_is_skipped_counted_and_distillation_goes_on(small, store, monkeypatch):
    import dd_tune.methods.pad as pad

    calls = []
    real = pad.trajectory_loss

    def flaky(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 1 else loss

    monkeypatch.setattr(pad, "trajectory_loss", flaky)
    d = make(small, store)
    before = d.synset().images
    m = d.run(3)
    assert m["nonfinite_steps"] == 1 and math.isfinite(m["loss"])
    skipped = {k: v for k, v in d.counters().items() if k.startswith("skipped")}
    assert skipped == {"skipped_steps": 1.0, "skipped_nonfinite": 1.0, "skipped_threshold": 0.0}
    assert d.state_is_finite() and not torch.equal(d.synset().images, before)
    restored = make(small, store, seed=4)
    restored.load_state_dict(d.state_dict())
    assert restored.counters() == d.counters()


@pytest.mark.parametrize("ipc, window, schedule, broken", [
    (1, (0, 2, 4), (20, 40, 60), False),  # PAD CIFAR-10 IPC 1
    (10, (0, 10, 20), (20, 40, 60), False),  # IPC 10: starts up to add_end_epoch
    (10, (0, 10, 20), (10, 20, 30), True),  # the halved schedule with the unscaled window
    (10, (0, 5, 10), (10, 20, 30), False),  # both halved
    (50, (0, 20, 40), (20, 40, 60), False),
    (50, (0, 30, 60), (20, 40, 60), True),
    (500, (40, 60, 70), (20, 40, 60), False),
    (500, (0, 60, 70), (20, 40, 60), True),
])
def test_window_rule_follows_pads_configs(ipc, window, schedule, broken):
    from dd_tune.methods.pad import window_rule

    experts = ExpertConfig(epochs=100, schedule=ScheduleConfig(add_end_epoch=schedule[0], rm_epoch_first=schedule[1],
                                                               rm_epoch_second=schedule[2]))
    cfg = PADConfig(min_start_epoch=window[0], current_max_start_epoch=window[1], max_start_epoch=window[2],
                    experts=experts)
    assert (window_rule(cfg, ipc) is not None) == broken
    no_schedule = dataclasses.replace(cfg, experts=dataclasses.replace(experts, schedule=ScheduleConfig(enabled=False)))
    assert window_rule(no_schedule, ipc) is None


def test_shipped_pad_studies_scale_window_and_schedule_together():
    from dd_tune.config import list_studies
    from dd_tune.methods.configs import load_study
    from dd_tune.methods.pad import window_rule

    checked = 0
    for name in [n for n in list_studies() if n.startswith("pad_")]:
        for profile in ("default", "quick", "smoke"):
            try:
                study = load_study(name, profile)
            except ConfigError as e:
                assert "unknown profile" in str(e)
                continue
            for ipc in study.ipc:
                assert window_rule(study.distill, ipc) is None, (name, profile, window_rule(study.distill, ipc))
                checked += 1
    assert checked >= 4


def test_flops_match_a_count_of_the_real_iteration(small, tmp_path):
    """PAD's count (9 forwards per image per unrolled step) against torch's FLOP counter on one real
    iteration of ConvNet-3 (forward, create_graph backward, outer backward through the unrolled steps)."""
    from torch.utils.flop_counter import FlopCounterMode

    from dd_tune.methods.flops import forward_flops
    from dd_tune.methods.pad import PADDistiller

    model = ModelSpec(width=128)
    experts = ExpertConfig(num_experts=1, epochs=2, batch_size=128, schedule=ScheduleConfig(enabled=False))
    store = ExpertStore(ExpertCache(tmp_path), small, "mnist", 0.1, 0, model, "crop", compute_missing=True)
    cfg = PADConfig(iterations=1, syn_steps=3, expert_epochs=1, current_max_start_epoch=1, max_start_epoch=1,
                    threshold=None, dsa=False, experts=experts)
    ctx = DistillContext(small, DATASETS.get("mnist"), model, 2, torch.Generator().manual_seed(0), "crop",
                         experts=store)
    d = build_distiller("pad", cfg, ctx)
    with FlopCounterMode(display=False) as counter:
        d.run(1)
    measured = counter.get_total_flops() / 2  # torch counts a multiply-add as 2 FLOPs, fvcore as 1
    assert PADDistiller.flops(cfg, forward_flops(model), 10, 2) == pytest.approx(measured, rel=0.05)


def test_pixel_method_flops_match_a_count_of_the_real_iteration(small):
    """DM's count (a no-grad real forward + a synthetic forward and backward) against torch's counter."""
    from torch.utils.flop_counter import FlopCounterMode

    from dd_tune.methods.dm import DMConfig, DMDistiller
    from dd_tune.methods.flops import forward_flops

    model = ModelSpec(width=128)
    cfg = DMConfig(iterations=1, batch_real=8, dsa=False)
    ctx = DistillContext(small, DATASETS.get("mnist"), model, 2, torch.Generator().manual_seed(0), "crop")
    d = build_distiller("dm", cfg, ctx)
    with FlopCounterMode(display=False) as counter:
        d.run(1)
    measured = counter.get_total_flops() / 2
    assert DMDistiller.flops(cfg, forward_flops(model), 10, 2) == pytest.approx(measured, rel=0.1)


def test_pad_learns_images_step_size_and_labels(small, store):
    d = make(small, store)
    start = d.synset()
    metrics = d.run(3)
    end = d.synset()
    assert math.isfinite(metrics["loss"]) and metrics["skipped"] == 0
    assert not torch.equal(end.images, start.images)
    assert end.lr != start.lr and end.labels.shape == (20, 10) and not torch.equal(end.labels, start.labels)


def test_correct_init_picks_images_the_experts_classify_correctly(small, store):
    d = make(small, store)
    syn = d.synset()
    hard = torch.arange(10).repeat_interleave(2)
    logits = d._expert_logits(syn.images, [0, 1])
    assert ((logits.argmax(2) == hard).any(0)).float().mean() >= 0.5
    assert (syn.labels.argmax(1) == hard).float().mean() >= 0.5


def test_noise_init_runs_and_threshold_skips(small, store):
    d = make(small, store, dataclasses.replace(TINY, init="noise", threshold=1e-9))
    before = d.synset().images
    m = d.run(2)
    assert m["skipped"] == 1.0
    torch.testing.assert_close(d.synset().images, before)


@pytest.mark.parametrize("source", ["real_logits", "self_logits", "hard"])
def test_noise_labels_are_a_named_choice(small, store, source):
    """The same noise, three label sources: the first expert's logits of real images (dd_tune's default),
    of the noise itself (PAD's real-init branch applied to noise), or class labels, not learned (MTT)."""
    d = make(small, store, dataclasses.replace(TINY, init="noise", noise_labels=source))
    base = make(small, store, dataclasses.replace(TINY, init="noise"))
    torch.testing.assert_close(d.images, base.images)  # the label source never changes the noise
    classes = torch.arange(10).repeat_interleave(2)
    if source == "hard":
        assert d.labels.dtype == torch.long and torch.equal(d.labels, classes) and not d.labels.requires_grad
        assert d.opt_y is None
    else:
        with torch.no_grad():
            of_noise = d.flat(d.trajectories[0][-1], d.images.detach())  # the first expert on the noise
        if source == "self_logits":
            torch.testing.assert_close(d.labels.detach(), of_noise)
        else:  # the default (real images' logits): what noise init has always been labelled with
            torch.testing.assert_close(d.labels.detach(), base.labels.detach())
            assert not torch.allclose(d.labels.detach(), of_noise)
        assert d.labels.requires_grad
    d.run(2)  # distills either way
    assert d.synset().labels.shape[0] == 20


def test_matching_loss_minimum_and_share_under_the_threshold_are_counted(small, store, monkeypatch):
    d = make(small, store, dataclasses.replace(TINY, threshold=1.0))
    losses = iter([3.0, 0.5, float("nan")])  # TINY runs 3 iterations
    real = __import__("dd_tune.methods.pad", fromlist=["trajectory_loss"]).trajectory_loss

    def scripted(*args, **kwargs):
        value = real(*args, **kwargs)
        return value * 0 + next(losses)

    monkeypatch.setattr("dd_tune.methods.pad.trajectory_loss", scripted)
    d.run(3)
    c = d.counters()
    assert c["matching_loss_min"] == pytest.approx(0.5) and c["matching_under_threshold"] == pytest.approx(1 / 3)
    assert (c["skipped_threshold"], c["skipped_nonfinite"]) == (1.0, 1.0)
    restored = make(small, store)
    restored.load_state_dict(d.state_dict())
    assert restored.counters() == pytest.approx(c)


def test_state_round_trip_continues_identically(small, store):
    a = make(small, store)
    a.run(3)
    b = make(small, store)
    b.run(1)
    c = make(small, store, seed=9)
    c.load_state_dict(b.state_dict())
    c.run(2)
    torch.testing.assert_close(c.synset().images, a.synset().images)
    assert c.synset().lr == pytest.approx(a.synset().lr)


def test_trials_never_train_experts(small, tmp_path):
    store = ExpertStore(ExpertCache(tmp_path), small, "mnist", 0.1, 0, MODEL, "crop", compute_missing=False)
    with pytest.raises(DataError, match="experts are trained by the study's expert stage"):
        store(TINY_EXPERTS)
