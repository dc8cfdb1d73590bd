"""Evaluations after the search: every (set, architecture, model, split) as one Ray task.

Three stages use it, in this order: the confirmation of the top trials on the **validation** split
(``dd_tune.tune.confirm``), the evaluation-lr choice on the validation split (``tune.lr_protocol``), and
the test pass (:func:`reevaluate`), which alone reads the test split. A job names its split, its seed
stream (each stage trains its own fresh models, paired across the sets it compares) and, for the lr
choice, the learning rate it trains with.

A set can be given as a finished ``SynSet`` or as the ``ObjectRef`` of a distillation still running, so
the driver submits the whole graph at once and Ray runs the evaluations of the sets that exist while the
others are still being distilled. Results are cached by content in ``<storage>/reeval`` (beside the
expert cache): the accuracy of model ``k`` is a function of the set's tensors, the protocol, the model,
the seed, the split and the device type only, so the same set evaluated again (random real in every
study of a suite, a resumed study) is read back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, cast

import torch

from dd_tune import __version__
from dd_tune.base import seeds
from dd_tune.base.allocator import steady_allocator
from dd_tune.base.atomic import atomic_write_text
from dd_tune.base.hashing import content_key
from dd_tune.config import to_dict
from dd_tune.config.study import Arch
from dd_tune.core.evaluation import evaluate_synset
from dd_tune.core.protocols import CONFIG_KEY
from dd_tune.core.synset import SynSet
from dd_tune.records import Reeval, SetAccuracy
from dd_tune.search.placement import TASK_RETRIES
from dd_tune.search.setup import TrialSetup


@dataclass(frozen=True)
class EvalJob:
    """Fresh model ``model`` of ``arch`` trained on set ``set`` with the final protocol, tested on ``split``."""

    set: str
    arch: str
    model: int
    split: Literal["val", "test"] = "test"
    stream: int = seeds.FINAL_EVAL
    lr: float | None = None  # None: the set's learned step size, else the protocol's
    max_images: int = 0  # validation jobs: >0 tests on that many images of a fixed shuffle


@dataclass(frozen=True)
class EvalOutcome:
    acc: float
    balanced: float
    cached: bool
    lr: float  # the step size the model was trained with
    lr_learned: bool  # a method's learned step size (PAD's alpha)
    ran_on: str = ""  # "cpu (simulated GPU), 0.5 GPU on <node>": where the job ran


def reeval_key(setup: TrialSetup, synset: SynSet, arch: str, k: int, job: EvalJob | None = None) -> str:
    """Everything model ``k``'s accuracy depends on, hashed (a plain test job keeps the key earlier
    versions used, so their cache entries are still read)."""
    study = setup.study
    extra: dict[str, Any] = {}
    if job is not None and (job.split, job.stream, job.lr) != ("test", seeds.FINAL_EVAL, None):
        extra = {"split": job.split, "stream": job.stream, "lr_override": job.lr}
        if job.split == "val":  # which images the validation split holds
            data = to_dict(study.data)
            if not study.data.zca:  # the keys earlier versions wrote, so their cache entries are still read
                data.pop("zca")
            extra.update(data=data, max_images=job.max_images)
    if synset.factor != 1:
        extra["factor"] = synset.factor
    if synset.zca:  # tested on the whitened test split
        extra["zca"] = True
    protocol = to_dict(study.final_eval)
    if study.final_eval.protocol == "dd_tune":  # the key earlier versions wrote (they knew no other protocol)
        protocol.pop(CONFIG_KEY)
    return content_key({
        "lr": synset.lr, "dataset": study.dataset, "final_eval": protocol,
        "model": to_dict(study.model), "seed": study.seed, "arch": arch, "k": k,
        "device": setup.device.type, "version": __version__, **extra,  # a new release may change training
    }, tensors=(synset.images, synset.labels))


def _heldout(setup: TrialSetup, split: str) -> Any:
    if split == "test":
        return setup.test()
    return setup.data().val  # the validation split carved from the training set


def _eval_task(setup: TrialSetup, synset: SynSet, job: EvalJob, cache_dir: str) -> EvalOutcome:
    """Accuracy (%) of one fresh model, from the cache when it was measured before."""
    learned = job.lr is None and synset.lr is not None
    lr = job.lr if job.lr is not None else (synset.lr if learned and synset.lr is not None
                                            else setup.study.final_eval.lr)
    where = setup.placement()  # a GPU share without CUDA fails here, naming the node
    ran_on = f"{where.label()} on {where.node}"
    setup.pause("eval")
    path = Path(cache_dir) / f"{reeval_key(setup, synset, job.arch, job.model, job)}.json" if cache_dir else None
    if path is not None and path.exists():
        cached = json.loads(path.read_text())  # entries of earlier versions have no balanced accuracy
        return EvalOutcome(float(cached["test_acc"]), float(cached.get("balanced", "nan")), True, lr, learned,
                           "cache")
    torch.set_num_threads(setup.threads)
    steady_allocator()  # fixed malloc thresholds (dd_tune.base.allocator): a test job loads no training data
    study = setup.study
    gen = seeds.generator(seeds.final_eval_seed(study.seed, job.arch, job.model, job.stream), setup.device)
    cfg = dataclasses.replace(study.final_eval, archs=(cast(Arch, job.arch),), models=1, lr=lr)
    if job.split == "val":
        cfg = dataclasses.replace(cfg, max_eval_images=job.max_images)
    result = evaluate_synset(synset, cfg, _heldout(setup, job.split), gen, study.model,
                             use_learned_lr=learned)[job.arch]
    acc, balanced = result.runs[0], result.balanced[0]
    if path is not None:  # atomic: a reader never sees half a file ("test_acc" names the accuracy of any split)
        atomic_write_text(path, json.dumps({"test_acc": acc, "balanced": balanced, "arch": job.arch,
                                            "model": job.model, "split": job.split}))
    return EvalOutcome(acc, balanced, False, lr, learned, ran_on)


def run_jobs(sets: Mapping[str, Any], jobs: Sequence[EvalJob], setup: TrialSetup, num_cpus: float,
             num_gpus: float, cache_dir: Path | None, stage: str) -> dict[EvalJob, EvalOutcome]:
    """Run ``jobs`` on Ray (sets given as ``SynSet`` or ``ObjectRef``; each set is put once), printing one
    progress line per finished job. The same object under two names is trained once per job."""
    import ray

    # a job whose node dies runs again elsewhere (same seed, same accuracy)
    task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=TASK_RETRIES)(_eval_task)
    refs: dict[int, Any] = {}
    for synset in sets.values():
        if id(synset) not in refs:
            refs[id(synset)] = synset if isinstance(synset, ray.ObjectRef) else ray.put(synset)
    canonical = {name: next(n for n, s in sets.items() if s is sets[name]) for name in sets}
    unique = list(dict.fromkeys(dataclasses.replace(j, set=canonical[j.set]) for j in jobs))
    pending = {task.remote(setup, refs[id(sets[j.set])], j, str(cache_dir or "")): j for j in unique}
    print(f"[dd_tune] {stage}: {len(unique)} job(s) submitted", flush=True)
    done_at: dict[EvalJob, EvalOutcome] = {}
    t0, waiting = time.time(), list(pending)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        job = pending[done[0]]
        out = done_at[job] = ray.get(done[0])
        print(f"[dd_tune] {stage} {len(done_at)}/{len(unique)}: {job.set} {job.arch} model {job.model + 1}"
              f"{f' lr {job.lr:g}' if job.lr is not None else ''} on {job.split}: {out.acc:.2f}%"
              f"{' (cached)' if out.cached else ''} ({time.time() - t0:.0f} s)", flush=True)
    return {j: done_at[dataclasses.replace(j, set=canonical[j.set])] for j in jobs}


def testing_jobs(names: Sequence[str], archs: Sequence[str], models: int) -> list[EvalJob]:
    """The test pass of ``names``: every architecture, ``models`` fresh models (the same seeds for all)."""
    return [EvalJob(name, arch, k) for arch in archs for name in names for k in range(models)]


def summarise(outcomes: Mapping[EvalJob, EvalOutcome], names: Sequence[str]) -> Reeval:
    """``{set: {arch: SetAccuracy}}`` of finished jobs (fresh models as the unit)."""
    out: Reeval = {}
    for name in names:
        jobs = sorted((j for j in outcomes if j.set == name), key=lambda j: j.model)
        for arch in dict.fromkeys(j.arch for j in jobs):
            mine = [j for j in jobs if j.arch == arch]
            runs = [float(outcomes[j].acc) for j in mine]
            first = outcomes[mine[0]]
            out.setdefault(name, {})[arch] = SetAccuracy.of_runs(
                runs, lr=first.lr, lr_learned=first.lr_learned, balanced=[float(outcomes[j].balanced) for j in mine])
    return out


def reevaluate(sets: Mapping[str, Any], setup: TrialSetup, num_cpus: float, num_gpus: float,
               cache_dir: Path | None, extra: Mapping[str, Sequence[str]] | None = None) -> Reeval:
    """The test pass: every set of ``sets`` on every final architecture with K fresh models (the same K
    seeds for every set: paired rows); ``extra`` names further sets tested on some architectures only
    (the confirmed candidates, for the proxy's fidelity). Long ConvNet runs are submitted first."""
    e = setup.study.final_eval
    jobs = testing_jobs(list(sets), e.archs, e.models)
    for name, archs in (extra or {}).items():
        jobs += testing_jobs([name], archs, e.models)
    outcomes = run_jobs(sets, jobs, setup, num_cpus, num_gpus, cache_dir, "test pass")
    return summarise(outcomes, list(dict.fromkeys(j.set for j in jobs)))
