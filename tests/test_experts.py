from __future__ import annotations

import threading

import torch

from dd_tune.core.models import ModelSpec, build_model
from dd_tune.core.splits import ClassIndexedData
from dd_tune.experts import ExpertCache, ExpertConfig, expert_key, flat_params, train_expert
from dd_tune.experts.schedule import ScheduleConfig

LENET = ModelSpec(name="lenet")


def toy() -> ClassIndexedData:
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 12 + [1] * 6 + [2] * 9)
    return ClassIndexedData(torch.randn(len(labels), 1, 28, 28, generator=g), labels, 3)


def test_trajectory_has_init_plus_every_epoch_and_is_reproducible():
    cfg = ExpertConfig(epochs=3, batch_size=8, schedule=ScheduleConfig(enabled=False))
    a = train_expert(toy(), LENET, cfg, torch.Generator().manual_seed(1), "color_crop")
    b = train_expert(toy(), LENET, cfg, torch.Generator().manual_seed(1), "color_crop")
    init = flat_params(build_model(LENET, torch.Generator().manual_seed(1)))
    assert a.shape == (4, init.numel())
    torch.testing.assert_close(a[0], init)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a[1], a[0]) and not torch.equal(a[3], a[2])


def test_scheduler_decides_which_samples_each_epoch_uses(monkeypatch):
    import dd_tune.experts.trajectories as ex

    seen = []
    real = ex.epoch_indices
    monkeypatch.setattr(ex, "epoch_indices", lambda order, e, c: seen.append(e) or real(order, e, c))
    data = toy()
    order = [torch.arange(0, 12), torch.arange(12, 18), torch.arange(18, 27)]
    sched = ScheduleConfig(init_ratio=0.5, add_end_epoch=1, rm_epoch_first=1, rm_epoch_second=1,
                           rm_easy_ratio_first=0.0, rm_easy_ratio_second=0.5)
    train_expert(data, LENET, ExpertConfig(epochs=3, batch_size=64, schedule=sched),
                 torch.Generator().manual_seed(0), "crop", order)
    assert seen == [0, 1, 2]


def test_key_covers_what_changes_a_trajectory():
    base = dict(dataset="mnist", val_fraction=0.1, split_seed=0, model=ModelSpec(), index=0)
    k = expert_key(cfg=ExpertConfig(), **base)
    assert k == expert_key(cfg=ExpertConfig(num_experts=7), **base)  # pool size is not content
    assert k != expert_key(cfg=ExpertConfig(epochs=50), **base)
    assert k != expert_key(cfg=ExpertConfig(schedule=ScheduleConfig(init_ratio=0.5)), **base)
    assert k != expert_key(cfg=ExpertConfig(), **{**base, "index": 1})
    assert k != expert_key(cfg=ExpertConfig(seed=1), **base)
    off = ExpertConfig(schedule=ScheduleConfig(enabled=False))
    assert expert_key(cfg=off, **base) == expert_key(
        cfg=ExpertConfig(schedule=ScheduleConfig(enabled=False, init_ratio=0.3)), **base)


def test_cache_computes_once_even_under_concurrency(tmp_path):
    cache = ExpertCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).view(2, 3)

    results = []
    threads = [threading.Thread(target=lambda: results.append(ExpertCache(tmp_path).get_or_compute("k", compute)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sum(fresh for _, fresh in results) == 1
    for value, _ in results:
        torch.testing.assert_close(value, torch.arange(6.0).view(2, 3))
    assert cache.get_or_compute("k", compute)[1] is False and len(calls) == 1
