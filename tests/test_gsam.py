"""GSAM (dd_tune.core.gsam) against an independent computation of one step on a tiny problem, and an
expert trained with it (PAD's buffer_CL.py recipe)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dd_tune.core.gsam import GSAM, GSAMConfig
from dd_tune.core.models import ModelSpec
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.training import minibatch_step
from dd_tune.experts import ExpertConfig, expert_flops, expert_key, train_expert
from dd_tune.experts.schedule import ScheduleConfig


def _problem() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.randn(3, 4, generator=g))
        net.bias.copy_(torch.randn(3, generator=g))
    return net, torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def _numpy_grad(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the mean cross-entropy of softmax(x w^T + b), by hand."""
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(3)[y]) / len(y)
    return d.T @ x, d.sum(0)


def _reference_step(w, b, x, y, lr, rho, alpha, adaptive):
    """The released ``gsam`` package's step, written out in numpy (float64)."""
    gw, gb = _numpy_grad(w, b, x, y)
    weight = (np.abs(w), np.abs(b)) if adaptive else (1.0, 1.0)
    norm = np.sqrt(((weight[0] * gw) ** 2).sum() + ((weight[1] * gb) ** 2).sum())
    scale = rho / (norm + 1e-12)
    ew, eb = gw * scale, gb * scale
    if adaptive:
        ew, eb = ew * w**2, eb * b**2
    pw, pb = _numpy_grad(w + ew, b + eb, x, y)
    g = np.concatenate([gw.ravel(), gb])
    gp = np.concatenate([pw.ravel(), pb])
    cos = g @ gp / (np.linalg.norm(g) * np.linalg.norm(gp) + 1e-12)
    vertical = g - cos * np.linalg.norm(g) * gp / (np.linalg.norm(gp) + 1e-12)
    step = gp - alpha * vertical
    return w - lr * step[:12].reshape(3, 4), b - lr * step[12:]


@pytest.mark.parametrize("adaptive", [True, False])
def test_one_step_matches_an_independent_computation(adaptive):
    net, x, y = _problem()
    w0, b0 = net.weight.detach().double().numpy(), net.bias.detach().double().numpy()
    cfg = GSAMConfig(rho=0.05, alpha=0.3, adaptive=adaptive)  # a rho large enough that the perturbation matters
    opt = GSAM(list(net.parameters()), torch.optim.SGD(net.parameters(), lr=0.5), cfg)
    loss = minibatch_step(net, opt, x, y)
    want_w, want_b = _reference_step(w0, b0, x.double().numpy(), y.numpy(), 0.5, 0.05, 0.3, adaptive)
    np.testing.assert_allclose(net.weight.detach().numpy(), want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.bias.detach().numpy(), want_b, rtol=1e-5, atol=1e-6)
    # the loss reported is the unperturbed one
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(
        torch.tensor(x.double().numpy() @ w0.T + b0), y)), rel=1e-5)
    # and the step is not plain SGD's
    sgd_w = w0 - 0.5 * _numpy_grad(w0, b0, x.double().numpy(), y.numpy())[0]
    assert np.abs(net.weight.detach().numpy() - sgd_w).max() > 1e-4


def test_micro_batches_give_the_same_gsam_step():
    a, x, y = _problem()
    b, _, _ = _problem()
    for net, micro in ((a, 0), (b, 2)):
        opt = GSAM(list(net.parameters()), torch.optim.SGD(net.parameters(), lr=0.5), GSAMConfig(rho=0.05))
        minibatch_step(net, opt, x, y, micro)
    torch.testing.assert_close(a.weight, b.weight)


def test_gsam_needs_a_closure_and_sane_settings():
    net, _, _ = _problem()
    opt = GSAM(list(net.parameters()), torch.optim.SGD(net.parameters(), lr=0.1), GSAMConfig())
    with pytest.raises(ValueError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="rho"):
        GSAMConfig(rho=0.0)


def test_a_gsam_expert_differs_from_an_sgd_expert_and_costs_two_passes():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 8 + [1] * 8)
    data = ClassIndexedData(torch.randn(16, 1, 28, 28, generator=g), labels, 2)
    lenet = ModelSpec(name="lenet")
    off = ScheduleConfig(enabled=False)
    sgd = ExpertConfig(epochs=2, batch_size=8, schedule=off)
    gsam = ExpertConfig(epochs=2, batch_size=8, schedule=off, optimizer="gsam")
    a = train_expert(data, lenet, sgd, torch.Generator().manual_seed(1), "crop")
    b = train_expert(data, lenet, gsam, torch.Generator().manual_seed(1), "crop")
    torch.testing.assert_close(a[0], b[0])  # the same initialisation
    assert not torch.allclose(a[2], b[2])
    assert expert_flops(gsam, 100, [8, 8])["training"] == 2 * expert_flops(sgd, 100, [8, 8])["training"]


def test_gsam_settings_are_in_a_gsam_experts_key_and_sgd_keys_are_unchanged():
    base = dict(dataset="mnist", val_fraction=0.1, split_seed=0, model=ModelSpec(), index=0)
    # the key this SGD expert had before GSAM existed: cached MNIST experts are found again
    assert expert_key(cfg=ExpertConfig(), **base) == "581e124bed6bb84d0be6f1e9"
    assert expert_key(cfg=ExpertConfig(gsam=GSAMConfig(rho=0.5)), **base) == "581e124bed6bb84d0be6f1e9"
    gsam = expert_key(cfg=ExpertConfig(optimizer="gsam"), **base)
    assert gsam != "581e124bed6bb84d0be6f1e9"
    assert gsam != expert_key(cfg=ExpertConfig(optimizer="gsam", gsam=GSAMConfig(alpha=0.1)), **base)


def test_an_expert_pool_says_its_recipe_in_words():
    from dd_tune.experts import describe_experts
    from dd_tune.methods.configs import load_study

    pad = describe_experts(load_study("pad_cifar10", "default").distill.experts)
    assert pad == "100-epoch GSAM experts (rho 0.01, alpha 0.3, adaptive), lr 0.01, data schedule over GraNd order"
    mnist = describe_experts(load_study("pad_mnist", "default").distill.experts)
    assert mnist == "50-epoch SGD experts, lr 0.01, data schedule over EL2N order"


def test_the_perturbed_pass_leaves_batch_norms_running_statistics_alone():
    g = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3))
    x, y = torch.randn(8, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    ref = copy.deepcopy(net)
    minibatch_step(ref, torch.optim.SGD(ref.parameters(), lr=0.0), x, y)  # one pass updates the statistics once
    opt = GSAM(list(net.parameters()), torch.optim.SGD(net.parameters(), lr=0.0), GSAMConfig(), net)
    minibatch_step(net, opt, x, y)
    torch.testing.assert_close(net[1].running_mean, ref[1].running_mean)
    torch.testing.assert_close(net[1].running_var, ref[1].running_var)
    assert net[1].momentum == 0.1
