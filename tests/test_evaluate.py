from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dd_tune.config import EvalConfig
from dd_tune.core.evaluation import ArchResult, evaluate_synset, train_on_synset
from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.core.synset import SynSet
from dd_tune.core.training import micro_batch_for, minibatch_step, soft_cross_entropy, train


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
    import dd_tune.core.evaluation as ev

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


def _manual_sgd_step(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float) -> list[torch.Tensor]:
    """Independent computation: one plain SGD step (no momentum, no decay) on the whole-batch mean loss."""
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    return [(p - lr * g).detach() for p, g in zip(net.parameters(), grads)]


@pytest.mark.parametrize("micro", [0, 16, 7])
def test_sliced_step_equals_the_whole_batch_step(micro):
    net = build_model(ModelSpec("convnet", width=8), torch.Generator().manual_seed(0))
    x, y = torch.randn(40, 1, 28, 28), torch.arange(10).repeat(4)
    expected = _manual_sgd_step(net, x, y, 0.1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    minibatch_step(net, opt, x, y, micro)
    for got, want in zip(net.parameters(), expected):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)


def test_slices_only_on_cpu_and_never_with_batch_norm():
    gen = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")
    assert micro_batch_for(build_model(ModelSpec("convnet", width=8), gen), cpu) == 16
    assert micro_batch_for(build_model(ModelSpec("convnet", width=8, norm="batch"), gen), cpu) == 0
    assert micro_batch_for(build_model(ModelSpec("lenet"), gen), cpu) == 0  # measured slower sliced
    assert micro_batch_for(build_model(ModelSpec("convnet", width=8), gen), torch.device("cuda")) == 0


def test_sliced_training_tracks_whole_batch_training():
    x, y = torch.randn(60, 1, 28, 28), torch.arange(10).repeat(6)
    finals = []
    for micro in (0, 16):
        gen = torch.Generator().manual_seed(3)
        net = build_model(ModelSpec("convnet", width=8), gen)
        train(net, x, y, epochs=4, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=32, generator=gen,
              dsa=None, micro=micro)
        finals.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(finals[1], finals[0], rtol=1e-4, atol=1e-5)


def test_a_set_whose_labels_do_not_pair_with_its_images_is_not_saved(tmp_path):
    from dd_tune.base.errors import DataError

    bad = SynSet(torch.randn(10, 1, 28, 28), torch.arange(5), "mnist", 1, "dm")
    with pytest.raises(DataError, match="10 images but labels of shape \\[5\\]"):
        bad.save(tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
