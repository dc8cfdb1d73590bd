"""The final re-evaluation: every set x architecture x K fresh models, tested once on the test split.

Each (set, architecture, model) is one Ray task. A set can be given as a finished ``SynSet`` or as the
``ObjectRef`` of a distillation still running, so the driver submits the whole graph at once and Ray
runs the re-evaluations of the sets that exist while the others are still being distilled.

Results are cached by content in ``<storage>/reeval`` (beside the expert cache): the accuracy of model
``k`` is a function of the set's tensors, the protocol, the model, the seed and the device type only, so
the same set evaluated again (random real in every study of a suite, a resumed study) is read back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from dd_tune import __version__, seeds
from dd_tune.allocator import steady_allocator
from dd_tune.config import to_dict
from dd_tune.data import load_test
from dd_tune.evaluation import evaluate_synset
from dd_tune.files import atomic_write_text, content_key
from dd_tune.report.stats import summary
from dd_tune.synset import SynSet
from dd_tune.tune.setup import TrialSetup


def reeval_key(setup: TrialSetup, synset: SynSet, arch: str, k: int) -> str:
    """Everything model ``k``'s test accuracy depends on, hashed."""
    study = setup.study
    return content_key({
        "lr": synset.lr, "dataset": study.dataset, "final_eval": to_dict(study.final_eval),
        "model": to_dict(study.model), "seed": study.seed, "arch": arch, "k": k,
        "device": setup.device.type, "version": __version__,  # a new release may change training
    }, tensors=(synset.images, synset.labels))


def _reeval_task(setup: TrialSetup, synset: SynSet, arch: str, k: int,
                 cache_dir: str) -> tuple[float, float, bool, float, bool]:
    """Test accuracy (%) of fresh model ``k`` of ``arch`` trained on ``synset``: (accuracy, balanced
    accuracy, from cache, the step size it was trained with, whether it was learned: PAD's alpha)."""
    lr = synset.lr if synset.lr is not None else setup.study.final_eval.lr
    path = Path(cache_dir) / f"{reeval_key(setup, synset, arch, k)}.json" if cache_dir else None
    if path is not None and path.exists():
        cached = json.loads(path.read_text())  # entries of earlier versions have no balanced accuracy
        return float(cached["test_acc"]), float(cached.get("balanced", "nan")), True, lr, synset.lr is not None
    torch.set_num_threads(setup.threads)
    steady_allocator()  # fixed malloc thresholds (dd_tune.allocator): this task loads no training data
    study = setup.study
    test = load_test(study.dataset, Path(setup.data_root), setup.device)
    gen = seeds.generator(seeds.final_eval_seed(study.seed, arch, k), setup.device)
    cfg = dataclasses.replace(study.final_eval, archs=(arch,), models=1)
    result = evaluate_synset(synset, cfg, test, gen, study.model)[arch]
    acc, balanced = result.runs[0], result.balanced[0]
    if path is not None:  # atomic: a reader never sees half a file
        atomic_write_text(path, json.dumps({"test_acc": acc, "balanced": balanced, "arch": arch, "model": k}))
    return acc, balanced, False, lr, synset.lr is not None


def reevaluate(sets: Mapping[str, Any], setup: TrialSetup, num_cpus: float, num_gpus: float,
               cache_dir: Path | None) -> dict[str, dict[str, dict]]:
    """``{set: {arch: {mean, std, n, ci95, runs, lr, lr_learned}}}`` for ``sets`` (``SynSet`` or ``ObjectRef``).

    The same object under two names (the default trial won) is trained once: same seeds, same result.
    Long ConvNet runs are submitted first so the short LeNet runs fill the end. ``lr`` is the step
    size the models were trained with (a learned one, e.g. PAD's alpha, or the protocol's).
    """
    import ray

    task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(_reeval_task)
    e = setup.study.final_eval
    unique: dict[int, str] = {}
    for name, synset in sets.items():
        unique.setdefault(id(synset), name)
    refs = {name: (s if isinstance(s, ray.ObjectRef) else ray.put(s))
            for name, s in sets.items() if unique[id(s)] == name}
    jobs = {task.remote(setup, ref, arch, k, str(cache_dir or "")): (name, arch, k)
            for arch in e.archs for name, ref in refs.items() for k in range(e.models)}
    results: dict[str, dict[str, list]] = {n: {a: [None] * e.models for a in e.archs} for n in refs}
    balanced: dict[str, dict[str, list]] = {n: {a: [None] * e.models for a in e.archs} for n in refs}
    lrs: dict[str, tuple[float, bool]] = {}
    pending, t0 = list(jobs), time.time()
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        name, arch, k = jobs[done[0]]
        acc, balanced[name][arch][k], cached, *lrs[name] = ray.get(done[0])
        results[name][arch][k] = float(acc)
        print(f"[dd_tune] re-evaluation {len(jobs) - len(pending)}/{len(jobs)}: {name} {arch} model {k + 1}: "
              f"{acc:.2f}%{' (cached)' if cached else ''} ({time.time() - t0:.0f} s)", flush=True)
    out: dict[str, dict[str, dict]] = {}
    for name, synset in sets.items():
        first = unique[id(synset)]
        lr, learned = lrs[first]
        out[name] = {arch: {**summary(runs), "runs": [float(v) for v in runs], "lr": lr, "lr_learned": learned,
                            "balanced": [float(v) for v in balanced[first][arch]]}
                     for arch, runs in results[first].items()}
    return out
