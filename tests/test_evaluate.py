from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dd_tune.config import EvalConfig
from dd_tune.data import ClassIndexedData
from dd_tune.evaluation import ArchResult, evaluate_synset, train_on_synset
from dd_tune.training import soft_cross_entropy
from dd_tune.synset import SynSet


def test_soft_cross_entropy_matches_definition_and_hard_limit():
    logits = torch.randn(4, 3)
    target = torch.randn(4, 3)
    expected = -(torch.softmax(target, 1) * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(soft_cross_entropy(logits, target), expected)
    hard = torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(soft_cross_entropy(logits, F.one_hot(hard, 3).float() * 1e4),
                               F.cross_entropy(logits, hard))


def test_arch_result_mean_std():
    r = ArchResult("convnet", [90.0, 92.0, 94.0])
    assert r.mean == 92.0 and r.std == pytest.approx(2.0)  # sample std (n - 1)


def test_lr_decays_once_at_half_and_momentum_is_reset(monkeypatch):
    created = []
    real_sgd = torch.optim.SGD

    def spy(params, lr, momentum, weight_decay):
        created.append((lr, momentum, weight_decay))
        return real_sgd(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    syn = SynSet(torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]), "mnist", 2, "test")
    train_on_synset(net, syn, EvalConfig(epochs=10, dsa=False), torch.Generator().manual_seed(0), 0.01, None)
    assert created == [(0.01, 0.9, 5e-4), (pytest.approx(0.001), 0.9, 5e-4)]


def _separable(n_per_class: int, seed: int) -> ClassIndexedData:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    images = torch.randn(len(labels), 1, 28, 28, generator=g) * 0.3
    for c in range(10):  # class c lights up row block c
        images[labels == c, 0, c * 2 : c * 2 + 3, :] += 2.0
    return ClassIndexedData(images, labels, 10)


def test_protocol_learns_a_separable_task_and_is_reproducible():
    train = _separable(2, 0)
    syn = SynSet(train.images, train.labels, "mnist", 2, "test")
    test = _separable(20, 1)
    cfg = EvalConfig(epochs=30, models=2, archs=("lenet",), batch_size=256, dsa=False, lr=0.05)
    res = evaluate_synset(syn, cfg, test, torch.Generator().manual_seed(0))
    again = evaluate_synset(syn, cfg, test, torch.Generator().manual_seed(0))
    assert res["lenet"].runs == again["lenet"].runs
    assert res["lenet"].mean > 60.0  # chance is 10 %


def test_learned_lr_is_used_unless_disabled(monkeypatch):
    import dd_tune.evaluation as ev

    seen = []
    monkeypatch.setattr(ev, "train_on_synset", lambda net, s, c, g, lr, dsa: seen.append(lr) or 0.0)
    data = _separable(2, 0)
    syn = SynSet(data.images, data.labels, "mnist", 2, "pad", lr=0.03)
    cfg = EvalConfig(epochs=1, models=1, archs=("lenet",))
    evaluate_synset(syn, cfg, data, torch.Generator().manual_seed(0))
    evaluate_synset(syn, cfg, data, torch.Generator().manual_seed(0), use_learned_lr=False)
    assert seen == [0.03, 0.01]


def test_synset_save_load_round_trip(tmp_path):
    syn = SynSet(torch.randn(20, 1, 28, 28), torch.arange(10).repeat_interleave(2), "mnist", 2, "dm",
                 lr=None, meta={"iteration": 5})
    syn.save(tmp_path / "s.pt")
    back = SynSet.load(tmp_path / "s.pt")
    assert torch.equal(back.images, syn.images) and back.meta == {"iteration": 5} and back.ipc == 2
    syn.save_png(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 100
    assert syn.grid().shape == (1, 280, 56)
