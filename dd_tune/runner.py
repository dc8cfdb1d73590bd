"""Runs a validated study on Ray: the search per IPC, the final re-evaluation, the report.

Kept apart from the CLI (``study.py``) so tests and ``compare`` can drive it directly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from dd_tune.config import StudyConfig, with_method_values
from dd_tune.errors import DDTuneError
from dd_tune.evaluate import model_spec_for
from dd_tune.methods import METHODS
from dd_tune.schema import to_dict
from dd_tune.search_space import (SearchSpace, default_point, expert_variants, max_iterations,
                                  space_as_dict, to_optuna)
from dd_tune.synset import SynSet
from dd_tune.trainable import METRIC, TrialSetup, config_index, dd_trainable

REEVAL_STREAM = 3  # seed stream of the final evaluation models (shared by all sets: paired runs)


class StudyFailed(DDTuneError):
    """No trial of a search produced a usable result."""


def _distill_task(setup: TrialSetup, config: dict[str, Any], trial_index: int) -> SynSet:
    """Distil one configuration to its full budget, without proxy evaluation (default/random-real)."""
    from dd_tune.trainable import make_distiller

    torch.set_num_threads(setup.threads)
    distiller, _ = make_distiller(setup, config, trial_index)
    distiller.run(distiller.total_iterations)
    return distiller.synset()


def _expert_task(setup: TrialSetup, cfg: Any, index: int) -> tuple[int, bool, float]:
    """Train (or find) expert ``index`` of ``cfg`` in the cache: (index, trained_now, seconds)."""
    from dd_tune.trainable import expert_store

    torch.set_num_threads(setup.threads)
    study = setup.study
    data = setup.data()
    t0 = time.time()
    _, trained = expert_store(setup, data, model_spec_for(study.model.name, data.spec, study.model)).expert(cfg, index)
    return index, trained, time.time() - t0


def _reeval_task(setup: TrialSetup, synset: SynSet, arch: str, k: int) -> float:
    """Train fresh model ``k`` of ``arch`` on ``synset`` with the final protocol; test accuracy (%)."""
    from dd_tune.evaluate import evaluate_synset
    from dd_tune.trainable import trial_seed

    torch.set_num_threads(setup.threads)
    study = setup.study
    data = setup.data(with_test=True)
    gen = torch.Generator(setup.device).manual_seed(trial_seed(study.seed, 1000 * k + len(arch), REEVAL_STREAM))
    cfg = dataclasses.replace(study.final_eval, archs=(arch,), models=1)
    return evaluate_synset(synset, cfg, data.test, gen, study.model)[arch].runs[0]


class StudyRunner:
    def __init__(self, study: StudyConfig, space: SearchSpace, study_dir: Path, data_root: Path,
                 resources: Any) -> None:
        self.study = study
        self.space = space
        self.dir = study_dir
        self.data_root = data_root
        self.resources = resources
        self.db = study_dir / "optuna.db"
        self.experts_dir = study_dir.parent / "experts"

    def setup(self, ipc: int, study: StudyConfig | None = None, compute_experts: bool = False) -> TrialSetup:
        return TrialSetup(study or self.study, ipc, str(self.data_root), self.resources.gpu > 0,
                          self.resources.threads, str(self.experts_dir), compute_experts)

    def train_experts(self) -> dict[str, Any]:
        """The expert stage: every expert the study needs, one Ray task each, before any trial.

        Experts live in ``<storage>/experts`` content-addressed, so later studies (and re-runs) that
        need the same ones reuse them; concurrent requests for one key train it once.
        """
        import ray

        configs = {}
        for values in [{}, *self.study.named_points.values(), *expert_variants(self.space)]:
            cfg = getattr(with_method_values(self.study, values, "experts"), "experts", None)
            if cfg is not None:
                configs[json.dumps(to_dict(cfg), sort_keys=True)] = cfg
        if not configs:
            return {}
        task = ray.remote(num_cpus=self.resources.cpu, num_gpus=self.resources.gpu)(_expert_task)
        setup = self.setup(self.study.ipc[0], compute_experts=True)
        jobs = [task.remote(setup, cfg, i) for cfg in configs.values() for i in range(cfg.num_experts)]
        t0, trained, pending = time.time(), 0, list(jobs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            index, fresh, seconds = ray.get(done[0])
            trained += int(fresh)
            print(f"[dd_tune] expert {len(jobs) - len(pending)}/{len(jobs)}: "
                  f"{'trained' if fresh else 'reused from cache'} ({seconds:.0f} s)", flush=True)
        return {"experts": len(jobs), "trained": trained, "reused": len(jobs) - trained,
                "seconds": time.time() - t0, "dir": str(self.experts_dir)}

    def run(self) -> dict[str, Any]:
        from dd_tune.report import write_report

        t0 = time.time()
        (self.dir / "study.json").write_text(json.dumps(to_dict(self.study), indent=2))
        expert_stage = self.train_experts()
        by_ipc = {}
        for ipc in self.study.ipc:
            by_ipc[str(ipc)] = self.run_ipc(ipc)
        first = by_ipc[str(self.study.ipc[0])]
        report = {
            "study": self.study.name, "method": self.study.method, "dataset": self.study.dataset,
            "profile": self.study.profile, "seed": self.study.seed,
            "ipc": self.study.ipc[0] if len(self.study.ipc) == 1 else list(self.study.ipc),
            "search_space": space_as_dict(self.space),
            "reference_defaults": to_dict(METHODS.get(self.study.method).config_cls()),
            "n_trials": first["n_trials"], "best_config": first["best_config"],
            "default_config": first["default_config"], "reeval": first["reeval"], "flops": first["flops"],
            "by_ipc": by_ipc, "wall_time_s": time.time() - t0, "expert_stage": expert_stage,
            "protocol": self._protocol(), "final_eval": to_dict(self.study.final_eval),
            "proxy_eval": to_dict(self.study.proxy_eval), "resources": dataclasses.asdict(self.resources),
            "study_dir": str(self.dir), "optuna_db": str(self.db),
        }
        write_report(report, self.dir)
        return report

    def _protocol(self) -> str:
        e = self.study.final_eval
        return (f"{e.models} fresh models per architecture, SGD lr {e.lr} (x0.1 at epoch {e.epochs // 2 + 1}),"
                f" momentum {e.momentum}, wd {e.weight_decay}, {e.epochs} epochs, batch {e.batch_size}"
                + (", DSA" if e.dsa else ""))

    # ---- one IPC -------------------------------------------------------------------------------
    def run_ipc(self, ipc: int) -> dict[str, Any]:
        t0 = time.time()
        default = default_point(self.study, self.space, ipc)
        grid = self.search(ipc, default)
        best, rows = self._best(grid)
        best_cfg = with_method_values(self.study, {k: v for k, v in best.config.items() if k != "ipc"},
                                      "best trial")
        best_ipc = int(best.config.get("ipc", ipc))
        with best.checkpoint.as_directory() as d:
            best_set = SynSet.load(Path(d) / "synset.pt")
        out_dir = self.dir / "best" if len(self.study.ipc) == 1 else self.dir / "best" / f"ipc{ipc}"
        best_set.meta.update({"config": to_dict(best_cfg), "study": self.study.name})
        best_set.save(out_dir / "synset.pt")
        best_set.save_png(out_dir / "synset.png")
        full = int(getattr(self.study.distill, "iterations", 0))
        default_is_best = best.config == default and best.metrics.get("it", -1) >= full
        sets = {"best": best_set,
                "default": best_set if default_is_best else self._default_synset(grid, default, ipc),
                "random_real": self._random_real(best_ipc)}
        if best_set.lr is not None or best_set.labels.dim() == 2:
            # learned step size / soft labels are part of the method; this row keeps methods comparable
            sets["best_hard_lr0.01"] = SynSet(best_set.images, best_set.hard_labels, best_set.dataset,
                                              best_set.ipc, best_set.method)
        for name, values in self.study.named_points.items():
            sets[name] = self._distill_remote(ipc, dict(values), f"named point '{name}'")
        reeval = self.reevaluate(sets, best_ipc)
        return {
            "ipc": best_ipc, "n_trials": len(grid), "n_errors": grid.num_errors,
            "n_diverged": sum(int(r.get("diverged", 0)) for r in rows),
            "errors": {str(r.path).rsplit("/", 1)[-1]: str(r.error).strip().splitlines()[-1][:300]
                       for r in grid if r.error},
            "best_val_acc": float(best.metrics[METRIC]),
            "best_config": {**to_dict(best_cfg), "ipc": best_ipc},
            "default_config": {**to_dict(self.study.distill), "ipc": ipc},
            "named_configs": {n: {**to_dict(with_method_values(self.study, v, n)), "ipc": ipc}
                              for n, v in self.study.named_points.items()},
            "reeval": reeval,
            "flops": self._flops(best_cfg, best_ipc),
            "best_synset": str(out_dir / "synset.pt"), "best_png": str(out_dir / "synset.png"),
            "trials": rows, "wall_time_s": time.time() - t0,
        }

    def search(self, ipc: int, default: dict[str, Any]):
        import optuna
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
        from ray.tune.search.optuna import OptunaSearch

        s = self.study.search
        n_startup = max(1, min(10, s.num_samples // 3))
        searcher = OptunaSearch(
            space=to_optuna(self.space), metric=METRIC, mode="max",
            points_to_evaluate=[default],
            sampler=optuna.samplers.TPESampler(seed=self.study.seed, n_startup_trials=n_startup),
            storage=optuna.storages.RDBStorage(f"sqlite:///{self.db}"),
            study_name=f"{self.study.name}-ipc{ipc}",
        )
        max_it = max_iterations(self.study, self.space)
        if s.asha.enabled and max_it > 0:
            scheduler = ASHAScheduler(time_attr="it", metric=METRIC, mode="max", max_t=max_it,
                                      grace_period=s.asha.grace_period * s.report_every,
                                      reduction_factor=s.asha.reduction_factor)
        else:
            scheduler = FIFOScheduler()
        trainable = tune.with_resources(
            tune.with_parameters(dd_trainable, setup=self.setup(ipc)),
            {"cpu": self.resources.cpu, "gpu": self.resources.gpu},
        )
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=s.num_samples,
                max_concurrent_trials=s.max_concurrent_trials,
                trial_dirname_creator=lambda t: f"trial_{t.trial_id}",
            ),
            run_config=tune.RunConfig(
                name=f"ipc{ipc}", storage_path=str(self.dir),
                sync_config=tune.SyncConfig(sync_artifacts=True),
                failure_config=tune.FailureConfig(max_failures=s.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                verbose=1,
            ),
        )
        return tuner.fit()

    def _best(self, grid) -> tuple[Any, list[dict]]:
        rows = []
        for r in grid:
            m = r.metrics or {}
            rows.append({"trial": str(r.path).rsplit("/", 1)[-1], "config": dict(r.config or {}),
                         METRIC: m.get(METRIC), "it": m.get("it"), "diverged": m.get("diverged", 0),
                         "error": None if r.error is None else str(r.error).strip().splitlines()[-1][:300]})
        finite = [r for r in grid if r.error is None and r.checkpoint is not None and r.metrics
                  and math.isfinite(r.metrics.get(METRIC, float("nan")))]
        if not finite:
            raise StudyFailed(f"all {len(grid)} trials failed; first error: "
                              f"{next((x['error'] for x in rows if x['error']), 'none reported')}")
        best = max(finite, key=lambda r: (r.metrics[METRIC], r.metrics.get("it", 0)))
        return best, rows

    def _default_synset(self, grid, default: dict[str, Any], ipc: int) -> SynSet:
        """The default trial's final set when it ran its full budget (ASHA may have stopped it)."""

        full = int(getattr(self.study.distill, "iterations", 0))
        for r in grid:
            if r.error is None and r.config == default and r.checkpoint is not None \
                    and (r.metrics or {}).get("it", -1) >= full:
                with r.checkpoint.as_directory() as d:
                    return SynSet.load(Path(d) / "synset.pt")
        return self._distill_remote(ipc, default, "the default configuration")

    def _distill_remote(self, ipc: int, values: dict[str, Any], what: str) -> SynSet:
        import ray

        cfg = with_method_values(self.study, values, what)
        print(f"[dd_tune] distilling {what} at IPC {ipc} ({getattr(cfg, 'iterations', 0)} iterations)",
              flush=True)
        task = ray.remote(num_cpus=self.resources.cpu, num_gpus=self.resources.gpu)(_distill_task)
        return ray.get(task.remote(self.setup(ipc), values, config_index(values)))

    def _random_real(self, ipc: int) -> SynSet:
        from dd_tune.methods.random_real import RandomRealConfig

        study = dataclasses.replace(self.study, method="random_real", distill=RandomRealConfig())
        return _distill_task(self.setup(ipc, study), {}, 10_000)

    def reevaluate(self, sets: dict[str, SynSet], ipc: int) -> dict[str, dict[str, dict]]:
        """Every set x architecture x K fresh models as parallel Ray tasks; same model seeds per set."""
        import ray

        task = ray.remote(num_cpus=self.resources.cpu, num_gpus=self.resources.gpu)(_reeval_task)
        setup = self.setup(ipc)
        e = self.study.final_eval
        # The same set under two names (the default trial won) is trained once: same seeds, same result.
        unique: dict[int, str] = {}
        for name, synset in sets.items():
            unique.setdefault(id(synset), name)
        jobs = {}
        for name, synset in sets.items():
            if unique[id(synset)] != name:
                continue
            ref = ray.put(synset)
            for arch in e.archs:
                for k in range(e.models):
                    jobs[task.remote(setup, ref, arch, k)] = (name, arch, k)
        results: dict[str, dict[str, list]] = {n: {a: [None] * e.models for a in e.archs} for n in sets}
        pending = list(jobs)
        t0 = time.time()
        done_count = 0
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            name, arch, k = jobs[done[0]]
            acc = float(ray.get(done[0]))
            results[name][arch][k] = acc
            done_count += 1
            print(f"[dd_tune] re-evaluation {done_count}/{len(jobs)}: {name} {arch} model {k + 1}: "
                  f"{acc:.2f}% ({time.time() - t0:.0f} s)", flush=True)
        for name, synset in sets.items():
            results[name] = results[unique[id(synset)]]
        from dd_tune.evaluate import ArchResult

        out: dict[str, dict[str, dict]] = {}
        for name, archs in results.items():
            out[name] = {}
            for arch, runs in archs.items():
                res = ArchResult(arch, runs=[float(v) for v in runs])
                out[name][arch] = {"mean": res.mean, "std": res.std, "runs": res.runs}
        return out

    def _flops(self, best_cfg: Any, ipc: int) -> dict[str, Any]:
        from dd_tune.data import DATASETS
        from dd_tune.flops import distillation_flops, evaluation_flops, forward_flops

        spec = DATASETS.get(self.study.dataset)
        e = self.study.final_eval
        fwd = {arch: forward_flops(model_spec_for(arch, spec, self.study.model)) for arch in e.archs}
        distill_fwd = fwd.get(self.study.model.name) or forward_flops(
            model_spec_for(self.study.model.name, spec, self.study.model))
        n_test = 10_000 if self.study.dataset in ("mnist", "fashionmnist", "cifar10", "cifar100") else 0
        n_syn = spec.num_classes * ipc
        return {
            "forward_per_image": fwd,
            "distillation_best": distillation_flops(self.study.method, best_cfg, distill_fwd, spec.num_classes, ipc),
            "distillation_default": distillation_flops(self.study.method, self.study.distill, distill_fwd,
                                                       spec.num_classes, ipc),
            "evaluation_one_run": {a: evaluation_flops(f, n_syn, e.epochs, n_test) for a, f in fwd.items()},
        }
