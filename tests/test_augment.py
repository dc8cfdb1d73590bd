"""DSA operations against independent computations on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dd_tune.base.errors import ConfigError
from dd_tune.core.augment import DSA, AugParams, parse_strategy
from dd_tune.core.datasets import DATASETS


def params_for(n: int, op: int, **values) -> AugParams:
    base = dict(op=torch.full((n,), op), brightness=torch.full((n,), 0.5), saturation=torch.full((n,), 0.5),
                contrast=torch.full((n,), 0.5), tx=torch.zeros(n, dtype=torch.long),
                ty=torch.zeros(n, dtype=torch.long), cx=torch.zeros(n, dtype=torch.long),
                cy=torch.zeros(n, dtype=torch.long), flip=torch.ones(n), sx=torch.ones(n),
                sy=torch.ones(n), theta=torch.zeros(n))
    base.update({k: torch.as_tensor(v) for k, v in values.items()})
    return AugParams(**base)


def test_digit_datasets_drop_flip():
    assert "flip" not in parse_strategy(DATASETS.get("mnist").dsa_strategy)
    assert "flip" not in parse_strategy(DATASETS.get("svhn").dsa_strategy)
    assert "flip" in parse_strategy(DATASETS.get("cifar10").dsa_strategy)


def test_unknown_operation_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown operations \\['blur'\\]"):
        DSA("color_blur", (8, 8))


def test_color_matches_formula():
    x = torch.randn(2, 3, 4, 4)
    dsa = DSA("color", (4, 4))
    u_b, u_s, u_c = torch.tensor([0.2, 0.9]), torch.tensor([0.1, 0.7]), torch.tensor([0.3, 0.6])
    out = dsa.apply(x, params_for(2, 0, brightness=u_b, saturation=u_s, contrast=u_c))
    expected = []
    for i in range(2):
        y = x[i] + (u_b[i] - 0.5) * 1.0
        m = y.mean(0, keepdim=True)
        y = (y - m) * (u_s[i] * 2.0) + m
        m = y.mean()
        y = (y - m) * (u_c[i] + 0.5) + m
        expected.append(y)
    torch.testing.assert_close(out, torch.stack(expected))


def test_crop_is_an_integer_shift_with_zero_fill():
    x = torch.arange(1, 26, dtype=torch.float).view(1, 1, 5, 5)
    dsa = DSA("crop", (5, 5))
    out = dsa.apply(x, params_for(1, 0, tx=torch.tensor([1]), ty=torch.tensor([-2])))
    expected = torch.zeros_like(x)
    # output[i, j] = input[i + 1, j - 2] where that exists
    expected[0, 0, 0:4, 2:5] = x[0, 0, 1:5, 0:3]
    torch.testing.assert_close(out, expected)


def test_crop_beyond_the_border_is_zero_padded_once():
    x = torch.ones(1, 1, 4, 4)
    out = DSA("crop", (4, 4)).apply(x, params_for(1, 0, tx=torch.tensor([3]), ty=torch.tensor([0])))
    assert out[0, 0, 0].sum() == 4 and out[0, 0, 1:].sum() == 0


def test_cutout_zeroes_a_half_size_square():
    x = torch.ones(1, 2, 8, 8)
    out = DSA("cutout", (8, 8)).apply(x, params_for(1, 0, cx=torch.tensor([4]), cy=torch.tensor([1])))
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[0:8, 0:5] = False
    hole[4 - 2 : 4 + 2, max(0, 1 - 2) : 1 + 2] = True  # 4x4 square centred at (4, 1), clipped
    assert torch.equal(out[0, 0] == 0, hole)
    assert torch.equal(out[0, 0], out[0, 1])


def test_flip_and_identity_affines():
    x = torch.randn(3, 1, 6, 6)
    flipped = DSA("flip", (6, 6)).apply(x, params_for(3, 0, flip=torch.tensor([0.1, 0.9, 0.2])))
    torch.testing.assert_close(flipped[0], x[0].flip(-1))
    torch.testing.assert_close(flipped[1], x[1])
    torch.testing.assert_close(DSA("scale", (6, 6)).apply(x, params_for(3, 0)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(DSA("rotate", (6, 6)).apply(x, params_for(3, 0)), x, atol=1e-5, rtol=0)


def test_rotate_90_degrees_matches_rot90():
    x = torch.randn(1, 1, 5, 5)
    out = DSA("rotate", (5, 5)).apply(x, params_for(1, 0, theta=torch.tensor([math.pi / 2])))
    candidates = [torch.rot90(x, k, dims=(2, 3)) for k in (1, 3)]
    assert min(float((out - c).abs().max()) for c in candidates) < 1e-4


def test_scale_matches_affine_grid():
    x = torch.randn(2, 1, 6, 6)
    sx, sy = torch.tensor([1.1, 0.9]), torch.tensor([0.85, 1.2])
    out = DSA("scale", (6, 6)).apply(x, params_for(2, 0, sx=sx, sy=sy))
    for i in range(2):
        theta = torch.tensor([[[float(sx[i]), 0.0, 0.0], [0.0, float(sy[i]), 0.0]]])
        grid = F.affine_grid(theta, [1, 1, 6, 6], align_corners=True)
        torch.testing.assert_close(out[i : i + 1], F.grid_sample(x[i : i + 1], grid, align_corners=True))


def test_magnitudes_stay_in_range():
    g = torch.Generator().manual_seed(0)
    p = DSA("color_crop_cutout_flip_scale_rotate", (32, 32)).sample(4000, g)
    assert p.tx.abs().max() == 4 and p.ty.abs().max() == 4  # 12.5 % of 32
    assert float(p.sx.min()) >= 1 / 1.2 - 1e-6 and float(p.sx.max()) <= 1.2 + 1e-6
    assert float(p.theta.abs().max()) <= 15 / 180 * math.pi + 1e-6
    assert set(p.op.tolist()) == set(range(6))


def test_per_sample_mode_uses_one_op_with_per_sample_params():
    g = torch.Generator().manual_seed(1)
    p = DSA("crop_scale", (8, 8)).sample(64, g, one_op=True)
    assert len(set(p.op.tolist())) == 1
    assert len(set(p.tx.tolist())) > 1


def test_siamese_groups_equal_a_per_group_loop():
    """Batched grouped augmentation == augmenting each class separately with its own draw."""
    dsa = DSA("color_crop_cutout_scale_rotate", (8, 8))
    g = torch.Generator().manual_seed(3)
    params = dsa.sample(5, g)
    groups = torch.arange(5).repeat_interleave(3)
    x = torch.randn(15, 1, 8, 8)
    batched = dsa.apply(x, params, groups)
    for c in range(5):
        one = params.take(torch.tensor([c]))
        loop = dsa.apply(x[c * 3 : (c + 1) * 3], one, torch.zeros(3, dtype=torch.long))
        torch.testing.assert_close(batched[c * 3 : (c + 1) * 3], loop)


def test_same_params_on_real_and_synthetic_batches():
    dsa = DSA("crop", (8, 8))
    params = dsa.sample(2, torch.Generator().manual_seed(0))
    x = torch.randn(1, 1, 8, 8)
    a = dsa.apply(x.repeat(4, 1, 1, 1), params, torch.tensor([0, 0, 1, 1]))
    b = dsa.apply(x.repeat(2, 1, 1, 1), params, torch.tensor([0, 1]))
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[2], b[1])
    torch.testing.assert_close(a[0], a[1])


def test_gradients_flow_to_pixels_and_ipc_one_works():
    dsa = DSA("color_crop_cutout_scale_rotate", (8, 8))
    x = torch.randn(10, 1, 8, 8, requires_grad=True)
    params = dsa.sample(10, torch.Generator().manual_seed(0))
    dsa.apply(x, params, torch.arange(10)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_same_generator_seed_same_augmentation():
    dsa = DSA("color_crop_cutout_scale_rotate", (8, 8))
    x = torch.randn(6, 1, 8, 8)
    a = dsa(x, torch.Generator().manual_seed(5))
    b = dsa(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
