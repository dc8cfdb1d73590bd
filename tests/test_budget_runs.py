"""Named points that differ only in their budget share one run, where the method allows it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from dd_tune.methods import budget_free
from dd_tune.methods.configs import load_study
from dd_tune.search.setup import TrialSetup
from dd_tune.search.trainable import config_index
from dd_tune.tune.sets import budget_groups, distill_prefixes, distill_task, named_sets


def _setup(data_root: Path, study_name: str = "dm_mnist_noise", **points) -> TrialSetup:
    study = load_study(study_name, "smoke")
    if points:
        study = dataclasses.replace(study, named_points=points)
    return TrialSetup(study, 1, str(data_root), False, threads=1)


def test_a_shorter_budget_is_the_prefix_of_a_longer_run(data_root: Path) -> None:
    """The premise of sharing, checked on the product's DM: 3 iterations alone = the first 3 of a 5."""
    setup = _setup(data_root)
    long = {"init": "noise", "iterations": 5, "batch_real": 8}
    start, mid, end = distill_prefixes(setup, long, config_index(long), (0, 3, 5))
    alone = distill_task(setup, {**long, "iterations": 3}, config_index(long))
    full = distill_task(setup, long, config_index(long))
    assert torch.equal(mid.images, alone.images)
    assert torch.equal(end.images, full.images)
    assert torch.equal(start.images, distill_task(setup, long, config_index(long), run=False).images)
    assert not torch.equal(mid.images, end.images) and not torch.equal(start.images, mid.images)
    assert (start.meta["iteration"], mid.meta["iteration"], end.meta["iteration"]) == (0, 3, 5)


def test_points_group_by_everything_but_the_budget(data_root: Path) -> None:
    setup = _setup(data_root, a={"init": "noise", "iterations": 4}, b={"init": "noise", "iterations": 0},
                   c={"init": "noise", "iterations": 2}, d={"init": "real", "iterations": 2},
                   e={"init": "noise", "iterations": 2, "lr_img": 3.0})
    assert sorted(budget_groups(setup, dict(setup.study.named_points))) == [["b", "c", "a"], ["d"], ["e"]]


def test_a_budget_dependent_schedule_keeps_its_own_runs(data_root: Path) -> None:
    """With the cosine schedule the step size at t depends on the budget: no sharing."""
    setup = _setup(data_root, a={"iterations": 4, "lr_schedule": "cosine"}, b={"iterations": 2, "lr_schedule": "cosine"})
    cfg = dataclasses.replace(setup.study.distill, lr_schedule="cosine")
    assert not budget_free("dm", cfg) and budget_free("dm", setup.study.distill)
    assert sorted(budget_groups(setup, dict(setup.study.named_points))) == [["a"], ["b"]]


@pytest.mark.parametrize("study_name", ["pad_mnist"])
def test_methods_with_budget_schedules_never_share(data_root: Path, study_name: str) -> None:
    """PAD's difficulty schedule and learned step size look at the budget."""
    study = load_study(study_name, "smoke")
    assert not budget_free(study.method, study.distill)


def test_named_sets_returns_one_set_per_point_read_off_the_shared_run(ray_session, data_root: Path) -> None:
    setup = _setup(data_root, n0={"init": "noise", "iterations": 0, "batch_real": 8},
                   n2={"init": "noise", "iterations": 2, "batch_real": 8},
                   n4={"init": "noise", "iterations": 4, "batch_real": 8})
    refs = named_sets(setup, 1, 0)
    assert list(refs) == ["n0", "n2", "n4"]
    sets = {name: ray_session.get(ref) for name, ref in refs.items()}
    assert [s.meta["iteration"] for s in sets.values()] == [0, 2, 4]
    n4 = setup.study.named_points["n4"]
    assert torch.equal(sets["n2"].images, distill_task(setup, {**n4, "iterations": 2}, config_index(dict(n4))).images)
