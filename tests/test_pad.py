"""PAD on tiny real data with tiny experts: window, unrolled matching, init, presets, state."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from dd_tune.config import build_method_config
from dd_tune.data import DATASETS, ClassIndexedData
from dd_tune.difficulty import DifficultyConfig
from dd_tune.errors import ConfigError, DataError
from dd_tune.experts import ExpertCache, ExpertConfig, ExpertStore
from dd_tune.methods import DistillContext, build_distiller
from dd_tune.methods.pad import PADConfig, start_window
from dd_tune.models import ModelSpec
from dd_tune.scheduler import ScheduleConfig

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
    mtt = build_method_config("pad", {"preset": "mtt", "experts": {"epochs": 50}}, "t")
    assert (mtt.soft_labels, mtt.init, mtt.experts.epochs, mtt.experts.schedule.enabled) == (False, "real", 50, False)


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
