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
