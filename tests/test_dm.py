"""DM's loss against independent computations, and the batched step against the per-class loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from reference_methods import dm_loss_per_class  # bench/: the authors' loop, for tests and benchmarks

from dd_tune.core.augment import DSA
from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.methods import DistillContext, build_distiller
from dd_tune.methods.dm import DMConfig, class_mean_distance


def test_class_mean_distance_matches_numpy():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3 * 4, 5)).astype(np.float32)
    syn = rng.normal(size=(3 * 2, 5)).astype(np.float32)
    expected = sum(((real[c * 4:(c + 1) * 4].mean(0) - syn[c * 2:(c + 1) * 2].mean(0)) ** 2).sum() for c in range(3))
    got = class_mean_distance(torch.from_numpy(real), torch.from_numpy(syn), 3)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_batched_loss_equals_per_class_reference(norm):
    spec = DATASETS.get("mnist")
    g = torch.Generator().manual_seed(0)
    net = build_model(dataclasses.replace(model_spec_for("convnet", spec), norm=norm), g)
    real = torch.randn(10 * 6, 1, 28, 28)
    syn = torch.randn(10 * 2, 1, 28, 28)
    dsa = DSA(spec.dsa_strategy, spec.size)
    params = dsa.sample(10, g)
    ref = dm_loss_per_class(net, real, syn, 10, dsa, params).detach()
    real_aug = dsa.apply(real, params, torch.arange(10).repeat_interleave(6))
    syn_aug = dsa.apply(syn, params, torch.arange(10).repeat_interleave(2))
    with torch.no_grad():
        er = net.embed(real_aug)
    batched = class_mean_distance(er, net.embed(syn_aug), 10).detach()
    if norm == "instance":  # per-sample normalisation: identical up to float rounding
        assert float(batched) == pytest.approx(float(ref), rel=1e-4)
    else:  # BN statistics over all classes (what main_DM.py does for BN) differ from per-class ones
        assert torch.isfinite(batched)


def tiny_data(n_per_class: int = 12) -> ClassIndexedData:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    images = torch.randn(len(labels), 1, 28, 28, generator=g) + labels.view(-1, 1, 1, 1) * 0.1
    return ClassIndexedData(images, labels, 10)


def make(cfg: DMConfig, seed: int = 0, ipc: int = 2):
    spec = DATASETS.get("mnist")
    ctx = DistillContext(tiny_data(), spec, model_spec_for("convnet", spec), ipc,
                         torch.Generator().manual_seed(seed), spec.dsa_strategy)
    return build_distiller("dm", cfg, ctx)


def test_step_changes_images_and_is_reproducible():
    cfg = DMConfig(iterations=3, batch_real=4)
    a, b = make(cfg), make(cfg)
    start = a.synset().images
    la, lb = a.run(3), b.run(3)
    assert la == lb
    assert not torch.equal(a.synset().images, start)
    torch.testing.assert_close(a.synset().images, b.synset().images)
    assert make(cfg, seed=1).run(3) != la


def test_noise_init_and_ipc_one():
    d = make(DMConfig(iterations=2, batch_real=4, init="noise"), ipc=1)
    assert d.synset().images.shape == (10, 1, 28, 28)
    assert np.isfinite(d.run(2)["loss"])


def test_checkpoint_round_trip_continues_identically():
    cfg = DMConfig(iterations=4, batch_real=4)
    straight = make(cfg)
    straight.run(4)
    first = make(cfg)
    first.run(2)
    state = first.state_dict()
    resumed = make(cfg, seed=99)  # different seed: everything must come from the state
    resumed.load_state_dict(state)
    assert resumed.iteration == 2
    resumed.run(2)
    torch.testing.assert_close(resumed.synset().images, straight.synset().images)


def test_real_init_uses_images_of_the_right_class():
    d = make(DMConfig(iterations=0))
    data = d.ctx.data
    syn = d.synset()
    for img, label in zip(syn.images, syn.labels):
        matches = (data.images == img).flatten(1).all(1)
        assert data.labels[matches].tolist() == [int(label)]
