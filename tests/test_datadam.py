"""DataDAM's attention loss against independent computations; presets; batched == the released step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from reference_methods import datadam_loss_released  # bench/

from dd_tune.base.errors import ConfigError
from dd_tune.core.augment import DSA
from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import build_model
from dd_tune.methods.configs import build_method_config
from dd_tune.methods.datadam import DataDAMConfig, attention_features, datadam_loss, spatial_attention
from dd_tune.methods.pixel import no_grad_chunked


def test_spatial_attention_matches_numpy():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    for p in (1, 2, 3, 4, 5):  # odd powers need the abs
        a = (np.abs(f) ** p).sum(1).reshape(2, -1)
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        np.testing.assert_allclose(spatial_attention(torch.from_numpy(f), p).numpy(), a, rtol=1e-5)


def test_loss_uses_blocks_before_the_last_plus_lambda_mmd():
    torch.manual_seed(0)
    C = 2
    maps_r = [torch.rand(C * 3, 4, 8, 8), torch.rand(C * 3, 4, 4, 4), torch.rand(C * 3, 4, 2, 2)]
    maps_s = [torch.rand(C * 1, 4, 8, 8), torch.rand(C * 1, 4, 4, 4), torch.rand(C * 1, 4, 2, 2)]
    emb_r, emb_s = torch.randn(C * 3, 5), torch.randn(C * 1, 5)
    total, sam, mmd = datadam_loss(attention_features(maps_r, emb_r, 4), attention_features(maps_s, emb_s, 4),
                                   C, lambda_mmd=0.5, loss_scale=100.0)
    # independent: per class, per block l in {1, 2} (not 3), squared distance of mean attentions
    exp_sam = 0.0
    for c in range(C):
        for layer in range(2):
            zr = spatial_attention(maps_r[layer][c * 3:(c + 1) * 3], 4).mean(0)
            zs = spatial_attention(maps_s[layer][c:c + 1], 4).mean(0)
            exp_sam += float(((zr - zs) ** 2).sum())
    exp_mmd = sum(float(((emb_r[c * 3:(c + 1) * 3].mean(0) - emb_s[c]) ** 2).sum()) for c in range(C))
    assert float(sam) == pytest.approx(exp_sam, rel=1e-5)
    assert float(mmd) == pytest.approx(exp_mmd, rel=1e-5)
    assert float(total) == pytest.approx(100.0 * (exp_sam + 0.5 * exp_mmd), rel=1e-5)


@pytest.mark.parametrize("norm,power,scale", [("instance", 4, 1.0), ("batch", 1, 100.0)])
def test_batched_loss_and_gradient_equal_the_released_step(norm, power, scale):
    """Both presets: the paper's (instance norm, p = 4) and the code's (batch norm over all classes, p = 1,
    x100), value and gradient with respect to the synthetic pixels."""
    spec = DATASETS.get("mnist")
    g = torch.Generator().manual_seed(0)
    net = build_model(dataclasses.replace(model_spec_for("convnet", spec), norm=norm), g)
    for p in net.parameters():
        p.requires_grad_(False)
    real, syn = torch.randn(10 * 4, 1, 28, 28), torch.randn(10 * 2, 1, 28, 28)
    dsa = DSA(spec.dsa_strategy, spec.size)
    params = dsa.sample(10, g)
    syn_ref = syn.clone().requires_grad_(True)
    ref = datadam_loss_released(net, real, syn_ref, 10, dsa, params, power, 0.01, scale)
    ref.backward()
    syn_ours = syn.clone().requires_grad_(True)
    ra = dsa.apply(real, params, torch.arange(10).repeat_interleave(4))
    sa = dsa.apply(syn_ours, params, torch.arange(10).repeat_interleave(2))
    rf = no_grad_chunked(net, lambda x: attention_features(*net.feature_maps(x), power), ra, 8)
    total, _, _ = datadam_loss(rf, attention_features(*net.feature_maps(sa), power), 10, 0.01, scale)
    total.backward()
    assert float(total) == pytest.approx(float(ref), rel=1e-4)
    torch.testing.assert_close(syn_ours.grad, syn_ref.grad, rtol=1e-3, atol=1e-6 * float(syn_ref.grad.abs().max()))


def test_attention_of_relu_maps_skips_abs_with_the_same_value_and_gradient():
    """attention_features treats its maps as ReLU outputs (|f| = f); at p = 1 and 3 the value and the
    gradient through the ReLU equal the explicit |f|^p, zeros included."""
    torch.manual_seed(0)
    pre = torch.randn(3, 4, 6, 6)
    pre[0, 0, 0, :3] = 0.0  # exact zeros: where sign(f) and the identity differ
    for p in (1, 3):
        x1, x2 = pre.clone().requires_grad_(True), pre.clone().requires_grad_(True)
        ours = attention_features([torch.relu(x1), torch.relu(x1)], torch.zeros(3, 1), p)[0]
        explicit = spatial_attention(torch.relu(x2), p)
        torch.testing.assert_close(ours, explicit)
        w = torch.randn_like(ours)
        (ours * w).sum().backward()
        (explicit * w).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad)


def test_presets_code_is_the_default_and_explicit_keys_win():
    code = build_method_config("datadam", {}, "t")  # the released code: what the authors ran
    assert (code.preset, code.power, code.loss_scale, code.net_norm, code.iterations, code.lr_img) == \
        ("code", 1, 100.0, "batch", 20000, 1.0)
    paper = build_method_config("datadam", {"preset": "paper"}, "t")
    assert (paper.power, paper.loss_scale, paper.net_norm, paper.iterations) == (4, 1.0, "instance", 8000)
    assert build_method_config("datadam", {"preset": "code", "power": 2}, "t").power == 2
    with pytest.raises(ConfigError, match=r"unknown preset 'distill.preset: repo'.*choose from \['code', 'paper'\]"):
        build_method_config("datadam", {"preset": "repo"}, "t")


def test_config_defaults_are_the_default_preset():
    cfg = DataDAMConfig()
    for key, value in DataDAMConfig.PRESETS[cfg.preset].items():
        assert getattr(cfg, key) == value, key


def test_loss_scale_is_an_lr_multiplier(mnist):
    """SGD without weight decay is linear in the gradient: x100 loss with lr 1 = lr 100 without it."""
    from dd_tune.methods import DistillContext, build_distiller

    def run(scale: float, lr: float) -> torch.Tensor:
        cfg = DataDAMConfig(preset="paper", loss_scale=scale, lr_img=lr, iterations=1, batch_real=4, dsa=False)
        ctx = DistillContext(mnist.train, mnist.spec, model_spec_for("convnet", mnist.spec), 1,
                             torch.Generator().manual_seed(3), mnist.spec.dsa_strategy)
        d = build_distiller("datadam", cfg, ctx)
        start = d.synset().images
        d.run(1)
        return d.synset().images - start

    step = run(100.0, 1.0)
    assert float(step.abs().max()) > 1e-3  # the images moved
    torch.testing.assert_close(step, run(1.0, 100.0), rtol=1e-4, atol=1e-6)


def test_code_preset_distils_with_batch_norm(mnist):
    from dd_tune.methods import DistillContext, build_distiller

    cfg = dataclasses.replace(build_method_config("datadam", {"preset": "code"}, "t"), iterations=2, batch_real=4)
    ctx = DistillContext(mnist.train, mnist.spec, model_spec_for("convnet", mnist.spec), 1,
                         torch.Generator().manual_seed(0), mnist.spec.dsa_strategy)
    d = build_distiller("datadam", cfg, ctx)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in d.fresh.net.modules())
    metrics = d.run(2)
    assert np.isfinite(metrics["loss"]) and metrics["loss_sam"] > 0
