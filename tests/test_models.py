from __future__ import annotations

import pytest
import torch

from dd_tune.base.errors import ConfigError
from dd_tune.core.datasets import DATASETS
from dd_tune.core.evaluation import model_spec_for
from dd_tune.core.models import MODELS, MaxPool2x2, ModelSpec, build_model, reinit_
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.training import accuracies, inference_forward


def n_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("dataset, total", [("mnist", 317_706), ("cifar10", 320_010), ("cifar100", 504_420)])
def test_convnet3_parameter_counts_match_methods_md(dataset, total):
    net = build_model(model_spec_for("convnet", DATASETS.get(dataset)), torch.Generator().manual_seed(0))
    assert n_params(net) == total


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_convnet_embedding_is_2048d_and_maps_are_pre_pooling(dataset):
    spec = DATASETS.get(dataset)
    net = build_model(model_spec_for("convnet", spec), torch.Generator().manual_seed(0))
    x = torch.randn(2, spec.channels, *spec.size)
    assert net.embed(x).shape == (2, 2048)
    maps, emb = net.feature_maps(x)
    assert [m.shape[-1] for m in maps] == [32, 16, 8]
    assert all((m >= 0).all() for m in maps)  # post-ReLU
    torch.testing.assert_close(emb, net.embed(x))
    assert net(x).shape == (2, spec.num_classes)


def test_lenet_embedding_is_400d_for_both_sizes():
    for dataset in ("mnist", "cifar10"):
        spec = DATASETS.get(dataset)
        net = build_model(model_spec_for("lenet", spec), torch.Generator().manual_seed(0))
        x = torch.randn(3, spec.channels, *spec.size)
        assert net.embed(x).shape == (3, 400)
        assert net(x).shape == (3, 10)


def test_convnet7_on_mhist_size_reaches_1x1():
    spec = DATASETS.get("mhist")
    net = build_model(ModelSpec("convnet", 3, 2, spec.size, width=16, depth=7), torch.Generator().manual_seed(0))
    assert net.embed(torch.randn(1, 3, 224, 224)).shape == (1, 16)


def test_variants_are_config_fields():
    for norm in ("instance", "batch", "none"):
        for pooling in ("avg", "max"):
            net = build_model(ModelSpec(norm=norm, pooling=pooling), torch.Generator().manual_seed(0))
            assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_model_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown model 'convnet3' \(did you mean 'convnet'\?\); choose from \['convnet', 'lenet'\]"):
        MODELS.get("convnet3")


def test_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(ModelSpec(), torch.Generator().manual_seed(7))
    b = build_model(ModelSpec(), torch.Generator().manual_seed(7))
    assert torch.equal(torch.rand(1), before)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    w = a.blocks[0]["conv"].weight.clone()
    reinit_(a, torch.Generator().manual_seed(8))
    assert not torch.equal(a.blocks[0]["conv"].weight, w)


def test_a_convnet_deeper_than_its_input_survives_is_refused():
    from dd_tune.base.errors import ConfigError
    from dd_tune.core.models import max_convnet_depth
    from dd_tune.methods.configs import load_study

    assert max_convnet_depth(1, (28, 28)) == 5 and max_convnet_depth(3, (224, 224)) == 7
    with pytest.raises(ConfigError, match="ConvNet-6 pools a 28x28 input to nothing: at most depth 5"):
        build_model(ModelSpec("convnet", 1, 10, (28, 28), width=8, depth=6), torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="'model.depth' 8 pools mhist's 224x224 images to nothing; at most 7"):
        load_study("datadam_mhist", "default", [("model.depth", 8)])


def _pool_inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    ties = torch.randint(0, 3, (4, 6, 10, 10), generator=g).float()  # many equal maxima, zeros as after ReLU
    odd = torch.randn(3, 2, 7, 9, generator=g)  # floor mode drops the last row and column
    nan = torch.randn(2, 3, 8, 8, generator=g)
    nan[0, 1, 2, 3] = float("nan")
    last = torch.randn(5, 16, 10, 10, generator=g).contiguous(memory_format=torch.channels_last)
    return [ties, odd, nan, last]


def test_max_pool_fast_path_equals_max_pool2d_and_is_the_path_taken(monkeypatch):
    expected = [torch.nn.functional.max_pool2d(x, 2, 2) for x in _pool_inputs()]

    def forbidden(*args, **kwargs):
        raise AssertionError("max_pool2d ran without autograd on CPU")

    monkeypatch.setattr("dd_tune.core.models.F.max_pool2d", forbidden)
    with torch.no_grad():
        got = [MaxPool2x2()(x) for x in _pool_inputs()]
    for e, o in zip(expected, got):
        assert e.shape == o.shape
        assert torch.equal(e.isnan(), o.isnan()) and torch.equal(e.nan_to_num(), o.nan_to_num())


def test_max_pool_with_autograd_keeps_max_pool2d_gradient():
    for x in _pool_inputs():
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        w = torch.randn(torch.nn.functional.max_pool2d(x, 2, 2).shape, generator=torch.Generator().manual_seed(1))
        (torch.nn.functional.max_pool2d(a, 2, 2) * w).nansum().backward()
        (MaxPool2x2()(b) * w).nansum().backward()
        assert torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("arch", ["convnet", "lenet"])
def test_test_pass_in_channels_last_matches_the_network_and_leaves_it_alone(arch):
    spec = model_spec_for(arch, DATASETS.get("mnist"))
    net = build_model(spec, torch.Generator().manual_seed(0)).eval()
    before = [(p.data_ptr(), p.stride()) for p in net.parameters()]
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(inference_forward(net)(x), net(x), atol=1e-5, rtol=1e-4)
    if arch == "convnet":  # the CPU forward really runs on channels-last weights
        assert inference_forward(net) is not net
    assert [(p.data_ptr(), p.stride()) for p in net.parameters()] == before


def test_accuracies_counts_hits_per_class():
    class Oracle(torch.nn.Module):  # predicts the label stored in pixel (0, 0)
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 1, bias=False)  # a 4-D weight: the channels-last path runs
            torch.nn.init.ones_(self.conv.weight)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(self.conv(x)[:, 0, 0, 0].round().long(), 3).float()

    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    images = torch.zeros(6, 1, 4, 4)
    images[:, 0, 0, 0] = torch.tensor([0, 0, 1, 1, 2, 0]).float()  # 4 of 6 right; recalls 2/3, 1, 1/2
    data = ClassIndexedData(images, labels, 3)
    top1, balanced = accuracies(Oracle(), data, chunk=4)
    assert top1 == pytest.approx(400 / 6) and balanced == pytest.approx(100 * (2 / 3 + 1 + 0.5) / 3)
