"""Final re-evaluation: ObjectRef inputs, one training per distinct set, and the content-addressed cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dd_tune import __version__
from dd_tune.config.schema import to_dict
from dd_tune.core.synset import SynSet
from dd_tune.methods.configs import load_study
from dd_tune.search.setup import TrialSetup
from dd_tune.tune.final_eval import reeval_key, reevaluate


def _setup(data_root: Path, **final_eval) -> TrialSetup:
    study = load_study("dm_mnist", "smoke")
    # the whole test split (smoke caps it at 500 images, where two near-chance sets can tie exactly)
    final_eval = {"max_eval_images": 0, **final_eval}
    study = dataclasses.replace(study, final_eval=dataclasses.replace(study.final_eval, **final_eval))
    return TrialSetup(study, 1, str(data_root), False, threads=1)


def _synset(seed: int) -> SynSet:
    g = torch.Generator().manual_seed(seed)
    return SynSet(torch.randn(10, 1, 28, 28, generator=g), torch.arange(10), "mnist", 1, "dm")


def test_key_depends_on_content_protocol_and_model_index(data_root: Path) -> None:
    setup = _setup(data_root, epochs=3)
    a = _synset(0)
    assert reeval_key(setup, a, "lenet", 0) == reeval_key(setup, _synset(0), "lenet", 0)
    different = [
        reeval_key(setup, _synset(1), "lenet", 0),
        reeval_key(setup, a, "convnet", 0),
        reeval_key(setup, a, "lenet", 1),
        reeval_key(_setup(data_root, epochs=4), a, "lenet", 0),
        reeval_key(_setup(data_root, epochs=3, protocol="dc"), a, "lenet", 0),  # the authors' evaluate_synset
        reeval_key(setup, dataclasses.replace(a, lr=0.02), "lenet", 0),
        reeval_key(setup, dataclasses.replace(a, labels=torch.eye(10)), "lenet", 0),
    ]
    assert len(set(different) | {reeval_key(setup, a, "lenet", 0)}) == len(different) + 1
    # dd_tune's protocol keeps the key of the versions that named no protocol: their entries are still read
    from dd_tune.base.hashing import content_key

    study = setup.study
    old = {"lr": a.lr, "dataset": "mnist", "final_eval": {k: v for k, v in to_dict(study.final_eval).items()
                                                          if k != "protocol"},
           "model": to_dict(study.model), "seed": study.seed, "arch": "lenet", "k": 0, "device": "cpu",
           "version": __version__}
    assert reeval_key(setup, a, "lenet", 0) == content_key(old, tensors=(a.images, a.labels))


def test_refs_dedup_and_cache(ray_session, data_root: Path, tmp_path: Path, capsys) -> None:
    from dd_tune.core.datasets import prepare_dataset

    prepare_dataset("mnist", data_root)  # as the CLI does: workers must not unpack the files concurrently
    setup = _setup(data_root, epochs=2, models=2, archs=("lenet",))
    a, b = _synset(0), _synset(1)
    sets = {"a": a, "b": ray_session.put(b), "a_again": a}
    first = reevaluate(sets, setup, 1, 0, tmp_path / "reeval")
    out = capsys.readouterr().out
    assert out.count("test pass ") == 4 and "(cached)" not in out  # a once, b once, 2 models each
    assert first["a"] == first["a_again"] and len(first["a"]["lenet"].runs) == 2
    assert first["a"]["lenet"].runs != first["b"]["lenet"].runs
    assert len(list((tmp_path / "reeval").glob("*.json"))) == 4

    again = reevaluate({"b": b, "a": a}, setup, 1, 0, tmp_path / "reeval")
    assert capsys.readouterr().out.count("(cached)") == 4
    assert again["a"] == first["a"] and again["b"] == first["b"]
    # The cache is only truthful if a recomputation gives the same numbers: same seeds, same result.
    fresh = reevaluate({"b": b}, setup, 1, 0, None)
    assert "(cached)" not in capsys.readouterr().out
    assert fresh["b"] == first["b"]
