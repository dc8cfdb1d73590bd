"""Herding and k-centre greedy against plain-Python reference implementations of the DC author's rules."""

from __future__ import annotations

import math
import random

import pytest
import torch

from dd_tune.core.coreset import herding, kcenter, select


def _herding_reference(points: list[list[float]], k: int) -> list[int]:
    mean = [sum(c) / len(points) for c in zip(*points)]
    chosen: list[int] = []
    total = [0.0] * len(mean)
    for i in range(k):
        target = [(i + 1) * m - t for m, t in zip(mean, total)]
        best = min((j for j in range(len(points)) if j not in chosen), key=lambda j: math.dist(points[j], target))
        chosen.append(best)
        total = [t + p for t, p in zip(total, points[best])]
    return chosen


def _kcenter_reference(points: list[list[float]], k: int) -> list[int]:
    mean = [sum(c) / len(points) for c in zip(*points)]
    chosen = [min(range(len(points)), key=lambda j: math.dist(points[j], mean))]
    while len(chosen) < k:
        rest = [j for j in range(len(points)) if j not in chosen]
        chosen.append(max(rest, key=lambda j: min(math.dist(points[j], points[c]) for c in chosen)))
    return chosen


def test_a_hand_checked_line():
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])  # mean 3.25
    assert herding(x, 2).tolist() == [2, 1]  # 2 is nearest 3.25; then nearest 2 * 3.25 - 2 = 4.5 of the rest: 1
    assert kcenter(x, 2).tolist() == [2, 3]  # nearest the mean, then the farthest from it


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_picks_as_the_reference_on_a_small_fixture(seed):
    rnd = random.Random(seed)
    points = [[rnd.gauss(0, 1) for _ in range(5)] for _ in range(40)]
    x = torch.tensor(points)
    assert herding(x, 7).tolist() == _herding_reference(points, 7)
    assert kcenter(x, 7).tolist() == _kcenter_reference(points, 7)
    assert select("herding", x, 3).tolist() == _herding_reference(points, 3)


def test_duplicates_are_never_picked_twice_and_k_is_capped():
    x = torch.zeros(4, 3)
    assert sorted(kcenter(x, 4).tolist()) == [0, 1, 2, 3]
    assert sorted(herding(x, 9).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="herding"):
        select("random", x, 1)


def test_the_candidate_pool_keeps_each_class_whole_or_draws_from_all_of_it():
    """``selection.pool: 0`` is every image of every class (a class larger than the smallest is not cut
    to its size); a pool between two class sizes takes all of the small class and that many of the others;
    a pool every class can give is the seeded draw earlier versions made."""
    import torch

    from dd_tune.config import ModelConfig
    from dd_tune.core.datasets import DATASETS
    from dd_tune.core.evaluation import model_spec_for
    from dd_tune.core.splits import ClassIndexedData
    from dd_tune.methods.base import DistillContext
    from dd_tune.methods.selection import SelectionConfig, candidate_pool, class_centres

    spec = DATASETS.get("mnist")
    sizes = [3, 9, 5, 5, 5, 5, 5, 5, 5, 40]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    data = ClassIndexedData(torch.randn(len(labels), 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                            labels, 10)
    ctx = DistillContext(data, spec, model_spec_for("convnet", spec, ModelConfig(width=8)), 1, torch.Generator(), "")
    whole = candidate_pool(ctx, 0)
    assert [len(p) for p in whole] == sizes and all(bool((data.labels[p] == c).all()) for c, p in enumerate(whole))
    assert sorted(torch.cat(whole).tolist()) == list(range(len(labels)))
    assert [len(p) for p in candidate_pool(ctx, 7)] == [min(7, n) for n in sizes]
    assert [len(p) for p in candidate_pool(ctx, 2)] == [2] * 10
    picked = class_centres(ctx, "herding", SelectionConfig(pool=0), 2)
    assert picked.shape == (10, 2) and bool((data.labels[picked[9]] == 9).all())
