"""PAD's normalised trajectory loss and parameter selection against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.experts import flat_params
from dd_tune.methods.trajectory import kept_mask, trajectory_loss


def test_ratio_zero_is_the_mtt_loss():
    rng = np.random.default_rng(0)
    end, start, target = (rng.normal(size=50) for _ in range(3))
    expected = ((end - target) ** 2).sum() / ((start - target) ** 2).sum()
    got = trajectory_loss(*(torch.tensor(v) for v in (end, start, target)))
    assert float(got) == pytest.approx(expected)


def test_depth_mode_drops_the_leading_fraction_on_both_sides():
    rng = np.random.default_rng(1)
    end, start, target = (rng.normal(size=40) for _ in range(3))
    cut = int(0.25 * 40)
    expected = ((end[cut:] - target[cut:]) ** 2).sum() / ((start[cut:] - target[cut:]) ** 2).sum()
    got = trajectory_loss(*(torch.tensor(v) for v in (end, start, target)), ratio=0.25, mode="depth")
    assert float(got) == pytest.approx(expected)


def test_loss_mode_drops_the_smallest_errors():
    end = torch.tensor([0.0, 0.0, 0.0, 0.0])
    target = torch.tensor([0.1, 3.0, 0.2, 2.0])  # errors 0.01, 9, 0.04, 4
    start = torch.tensor([1.0, 1.0, 1.0, 1.0])
    got = trajectory_loss(end, start, target, ratio=0.5, mode="loss")
    expected = (9.0 + 4.0) / ((1 - 3.0) ** 2 + (1 - 2.0) ** 2)
    assert float(got) == pytest.approx(expected)


@pytest.mark.parametrize("dataset, ratio, conv3_dropped", [("mnist", 0.5, 9477), ("cifar10", 0.5, 8325),
                                                            ("cifar10", 0.25, None)])
def test_depth_cut_falls_inside_a_layer_as_in_methods_md(dataset, ratio, conv3_dropped):
    net = build_model(model_spec_for("convnet", DATASETS.get(dataset)), torch.Generator().manual_seed(0))
    P = flat_params(net).numel()
    keep = kept_mask(torch.zeros(P), ratio, "depth")
    sizes = [p.numel() for p in net.parameters()]
    bounds = np.cumsum([0] + sizes)
    names = [n for n, _ in net.named_parameters()]
    conv3 = names.index("blocks.2.conv.weight")
    conv2 = names.index("blocks.1.conv.weight")
    dropped_conv3 = int((~keep[bounds[conv3]:bounds[conv3 + 1]]).sum())
    if conv3_dropped is not None:
        assert dropped_conv3 == conv3_dropped
        assert not keep[: bounds[conv3]].any()  # blocks 1-2 fully dropped
    else:  # 0.25 on CIFAR-10: block 1 and 76 162 of conv2's weights
        assert int((~keep[bounds[conv2]:bounds[conv2 + 1]]).sum()) == 76_162


def test_gradient_reaches_the_unrolled_parameters():
    end = torch.randn(20, requires_grad=True)
    trajectory_loss(end, torch.randn(20), torch.randn(20), ratio=0.3, mode="loss").backward()
    assert end.grad is not None and int((end.grad != 0).sum()) == 14


def test_flat_model_matches_the_module_and_its_sgd_step():
    from dd_tune.core.models import ModelSpec
    from dd_tune.methods.trajectory import FlatModel

    net = build_model(ModelSpec(width=8), torch.Generator().manual_seed(0))
    fm = FlatModel(net)
    theta = flat_params(net).requires_grad_(True)
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(fm(theta, x), net(x))
    loss = torch.nn.functional.cross_entropy(fm(theta, x), y)
    (grad,) = torch.autograd.grad(loss, theta, create_graph=True)
    theta_next = theta - 0.1 * grad
    torch.nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    torch.testing.assert_close(theta_next.detach(), flat_params(net))
    # second order: the step is differentiable w.r.t. the learning rate and the inputs
    alpha = torch.tensor(0.1, requires_grad=True)
    xs = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(fm(theta, xs), y), theta, create_graph=True)
    (theta - alpha * g).pow(2).sum().backward()
    assert alpha.grad is not None and xs.grad is not None and xs.grad.abs().sum() > 0
