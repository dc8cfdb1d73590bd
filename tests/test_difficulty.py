from __future__ import annotations

import torch
import torch.nn.functional as F

from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.experts.difficulty import DifficultyConfig, difficulty_scores, easy_to_hard, sample_scores


def test_el2n_and_grand_match_their_definitions():
    net = build_model(ModelSpec(name="lenet"), torch.Generator().manual_seed(0))
    x, y = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])
    el2n = sample_scores(net, x, y, "el2n")
    with torch.no_grad():
        p = F.softmax(net(x), 1)
        h = net.embed(x)
    expected = torch.stack([(p[i] - F.one_hot(y[i], 10)).norm() for i in range(6)])
    torch.testing.assert_close(el2n, expected)
    # GraNd: norm of d CE / d (W, b) of the last layer applied to the penultimate features
    last = net.head[-1]
    feats = net.head[:-1](h).detach()
    grads = []
    for i in range(6):
        w = last.weight.detach().clone().requires_grad_(True)
        b = last.bias.detach().clone().requires_grad_(True)
        F.cross_entropy((feats[i : i + 1] @ w.T + b), y[i : i + 1]).backward()
        grads.append(torch.sqrt(w.grad.pow(2).sum() + b.grad.pow(2).sum()))
    convnet = build_model(ModelSpec(), torch.Generator().manual_seed(0))
    grand = sample_scores(convnet, x, y, "grand")
    with torch.no_grad():
        hc = convnet.embed(x)
        pc = F.softmax(convnet(x), 1)
    manual = torch.stack([(pc[i] - F.one_hot(y[i], 10)).norm() * torch.sqrt(1 + hc[i].pow(2).sum())
                          for i in range(6)])
    torch.testing.assert_close(grand, manual)
    # the closed form equals the autograd gradient norm for a linear last layer (LeNet's head)
    lenet_grand = torch.stack([(p[i] - F.one_hot(y[i], 10)).norm() * torch.sqrt(1 + feats[i].pow(2).sum())
                               for i in range(6)])
    torch.testing.assert_close(lenet_grand, torch.stack(grads), rtol=1e-4, atol=1e-6)
    # ... and that is what the score computes for LeNet (its last layer's 84-d input, not the 400-d conv features)
    torch.testing.assert_close(sample_scores(net, x, y, "grand"), torch.stack(grads), rtol=1e-4, atol=1e-6)


def test_rows_are_per_class_easy_to_hard_with_unequal_counts():
    labels = torch.tensor([1] * 3 + [0] * 5)
    data = ClassIndexedData(torch.zeros(8, 1, 1, 1), labels, 2)
    scores = torch.tensor([0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.6])  # in data's (class-sorted) order
    rows = easy_to_hard(scores, data)
    assert [len(r) for r in rows] == [5, 3]
    assert rows[0].tolist() == [1, 4, 3, 0, 2] and rows[1].tolist() == [6, 7, 5]


def test_trained_scores_rank_noisy_samples_harder():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(20)
    images = torch.randn(200, 1, 28, 28, generator=g) * 0.2
    for c in range(10):
        images[labels == c, 0, c * 2 : c * 2 + 3] += 2.0
    images[::20] = torch.randn(10, 1, 28, 28, generator=g)  # first sample of each class: pure noise
    data = ClassIndexedData(images, labels, 10)
    scores = difficulty_scores(data, ModelSpec(name="lenet"), DifficultyConfig(models=2, epochs=14, lr=0.05),
                               torch.Generator().manual_seed(1), "mnist")
    rows = easy_to_hard(scores, data)
    hardest = torch.stack([r[-3:] for r in rows]).flatten().tolist()
    assert sum(i % 20 == 0 for i in hardest) >= 7  # the noise samples sit at the hard end
