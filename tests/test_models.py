from __future__ import annotations

import pytest
import torch

from dd_tune.data import DATASETS
from dd_tune.errors import ConfigError
from dd_tune.evaluation import model_spec_for
from dd_tune.models import MODELS, ModelSpec, build_model, reinit_


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
    with pytest.raises(ConfigError, match=r"unknown model 'convnet3'; choose from \['convnet', 'lenet'\]"):
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
    from dd_tune.errors import ConfigError
    from dd_tune.methods.configs import load_study
    from dd_tune.models import max_convnet_depth

    assert max_convnet_depth(1, (28, 28)) == 5 and max_convnet_depth(3, (224, 224)) == 7
    with pytest.raises(ConfigError, match="ConvNet-6 pools a 28x28 input to nothing: at most depth 5"):
        build_model(ModelSpec("convnet", 1, 10, (28, 28), width=8, depth=6), torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="'model.depth' 8 pools mhist's 224x224 images to nothing; at most 7"):
        load_study("datadam_mhist", "default", [("model.depth", 8)])
