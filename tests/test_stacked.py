"""The K-at-once engine trains each model exactly as training it alone would (same draws, same steps)."""

from __future__ import annotations

import pytest
import torch
from stacked import train_stacked  # bench/: measured, not used by the product

from dd_tune.core.augment import DSA
from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.training import train

SPEC = dict(epochs=3, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=16)


def _flat(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@pytest.mark.parametrize("arch", ["convnet", "lenet"])
@pytest.mark.parametrize("soft", [False, True])
def test_stacked_models_equal_models_trained_one_by_one(arch, soft):
    spec = ModelSpec(arch, width=8)
    x = torch.randn(30, 1, 28, 28, generator=torch.Generator().manual_seed(9))
    y = torch.randn(30, 10) if soft else torch.arange(10).repeat(3)
    dsa = DSA("color_crop_cutout_scale_rotate", (28, 28))
    alone, alone_loss = [], []
    for k in range(3):
        gen = torch.Generator().manual_seed(100 + k)
        net = build_model(spec, gen)
        alone_loss.append(train(net, x, y, generator=gen, dsa=dsa, micro=0, **SPEC))
        alone.append(_flat(net))
    gens = [torch.Generator().manual_seed(100 + k) for k in range(3)]
    nets = [build_model(spec, g) for g in gens]
    losses = train_stacked(nets, x, y, generators=gens, dsa=dsa, **SPEC)
    for k in range(3):
        torch.testing.assert_close(_flat(nets[k]), alone[k], rtol=1e-4, atol=1e-5)
        assert losses[k] == pytest.approx(alone_loss[k], rel=1e-4)
    assert not torch.allclose(alone[0], alone[1])  # the models really differ


def test_one_generator_per_network():
    nets = [build_model(ModelSpec("lenet"), torch.Generator().manual_seed(0))]
    with pytest.raises(ValueError, match="one generator per network"):
        train_stacked(nets, torch.randn(4, 1, 28, 28), torch.arange(4), generators=[], dsa=None, **SPEC)


def test_networks_with_batch_norm_are_refused():
    gen = torch.Generator().manual_seed(0)
    nets = [build_model(ModelSpec("convnet", width=8, norm="batch"), gen)]
    with pytest.raises(ValueError, match="batch norm"):
        train_stacked(nets, torch.randn(4, 1, 28, 28), torch.arange(4), generators=[gen], dsa=None, **SPEC)
