"""Runs a validated study on Ray: the search per IPC, the final re-evaluation, the report.

Kept apart from the CLI (``study.py``) so tests and ``compare`` can drive it directly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from dd_tune.config import StudyConfig, with_method_values
from dd_tune.errors import DDTuneError
from dd_tune.evaluate import model_spec_for
from dd_tune.methods import METHODS
from dd_tune.reeval import reevaluate
from dd_tune.report import RANDOM_REAL_DRAW, differences, pool_random_real, write_report
from dd_tune.schema import to_dict
from dd_tune.search_space import SearchSpace, default_point, expert_variants, space_as_dict
from dd_tune.synset import SynSet
from dd_tune.trainable import METRIC, TrialSetup, config_index, fault_rules
from dd_tune.tuning import optuna_name


# trial index of the first random-real draw (draw d uses RANDOM_REAL_INDEX + d; draw 1 is the set the
# single-draw reports used, so their cached re-evaluations stay valid)
RANDOM_REAL_INDEX = 10_000


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


def _failure(result: Any) -> str | None:
    """Why a trial failed: its exception's last line, or the divergence it reported; None if it did not.

    A diverged trial reports val_acc 0 to Optuna (so TPE learns to avoid the region; a FAIL state
    would be invisible to it) but is a failed trial in the report, with the reason.
    """
    if result.error is not None:
        return str(result.error).strip().splitlines()[-1][:300]
    m = result.metrics or {}
    if m.get("diverged"):
        return (f"diverged at iteration {m.get('it')}: non-finite synthetic set, no finite loss in a report "
                f"interval or non-finite accuracy (loss {m.get('loss')})")
    return None


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
        self.fault = os.environ.get("DD_TUNE_FAULT_AFTER_REPORTS", "")
        fault_rules(self.fault)  # a malformed testing hook fails here, not inside every trial

    def setup(self, ipc: int, study: StudyConfig | None = None, compute_experts: bool = False) -> TrialSetup:
        return TrialSetup(study or self.study, ipc, str(self.data_root), self.resources.gpu > 0,
                          self.resources.threads, str(self.experts_dir), compute_experts,
                          fault=self.fault)

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
        t0, trained, pending, task_seconds = time.time(), 0, list(jobs), 0.0
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            index, fresh, seconds = ray.get(done[0])
            trained += int(fresh)
            task_seconds += seconds
            print(f"[dd_tune] expert {len(jobs) - len(pending)}/{len(jobs)}: "
                  f"{'trained' if fresh else 'reused from cache'} ({seconds:.0f} s)", flush=True)
        return {"experts": len(jobs), "trained": trained, "reused": len(jobs) - trained,
                "flops": self._expert_flops(list(configs.values())),
                "seconds": time.time() - t0, "task_seconds": task_seconds,
                "cpu_seconds": task_seconds * self.resources.cpu, "gpu_seconds": task_seconds * self.resources.gpu,
                "dir": str(self.experts_dir)}

    def run(self, resume: bool = False) -> dict[str, Any]:
        """The whole study. With ``resume``, finished IPCs are read back, an interrupted search is
        restored from Ray Tune's experiment state, and the expert stage finds its experts cached."""

        t0 = time.time()
        method = METHODS.get(self.study.method).distiller_cls
        for ipc in self.study.ipc:
            for note in method.config_notes(self.study.distill, ipc):
                if note.startswith("Warning"):
                    print(f"[dd_tune] IPC {ipc}: {note}", flush=True)
        (self.dir / "study.json").write_text(json.dumps(to_dict(self.study), indent=2))
        expert_stage = self.train_experts()
        by_ipc = {}
        for ipc in self.study.ipc:
            done_file = self.dir / f"ipc{ipc}.json"
            if resume and done_file.exists():
                print(f"[dd_tune] IPC {ipc}: finished before the interruption, read back", flush=True)
                by_ipc[str(ipc)] = json.loads(done_file.read_text())
                continue
            by_ipc[str(ipc)] = self.run_ipc(ipc, resume)
            done_file.write_text(json.dumps(by_ipc[str(ipc)], indent=2, default=str))
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
            "method_notes": list(METHODS.get(self.study.method).distiller_cls.report_notes),
        }
        write_report(report, self.dir)
        return report

    def _protocol(self) -> str:
        e = self.study.final_eval
        return (f"{e.models} fresh models per architecture, SGD lr {e.lr} (x0.1 at epoch {e.epochs // 2 + 1}),"
                f" momentum {e.momentum}, wd {e.weight_decay}, {e.epochs} epochs, batch {e.batch_size}"
                + (", DSA" if e.dsa else ""))

    # ---- one IPC -------------------------------------------------------------------------------
    def run_ipc(self, ipc: int, resume: bool = False) -> dict[str, Any]:
        t0 = time.time()
        method = METHODS.get(self.study.method).distiller_cls
        default = default_point(self.study, self.space, ipc)
        grid = self.search(ipc, default, resume)
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
                **self._random_real(best_ipc)}
        if best_set.lr is not None or best_set.labels.dim() == 2:
            # learned step size / soft labels are part of the method; this row keeps methods comparable:
            # every image labelled with its class (not the argmax of its learned label), protocol lr
            sets["best_hard_lr0.01"] = best_set.with_class_labels()
        for name, values in self.study.named_points.items():
            sets[name] = self._distill_remote(ipc, dict(values), f"named point '{name}'")
        for init in self.study.init_variants:  # noise vs real init at the tuned hyperparameters
            values = {**{k: v for k, v in best.config.items() if k != "ipc"}, "init": init}
            sets[f"best_init_{init}"] = best_set if getattr(best_cfg, "init", None) == init else \
                self._distill_remote(best_ipc, values, f"the tuned configuration with init {init}")
        reeval = pool_random_real(reevaluate(sets, self.setup(best_ipc), self.resources.cpu, self.resources.gpu,
                                             self.dir.parent / "reeval"))
        plots = self._plots(ipc, rows)
        return {
            "ipc": best_ipc, "n_trials": len(grid), "n_errors": grid.num_errors,
            "n_diverged": sum(int(r.get("diverged", 0)) for r in rows),
            "errors": {r["trial"]: r["error"] for r in rows if r["error"]},
            "best_val_acc": float(best.metrics[METRIC]),
            "best_config": {**to_dict(best_cfg), "ipc": best_ipc},
            "default_config": {**to_dict(self.study.distill), "ipc": ipc},
            "named_configs": {n: {**to_dict(with_method_values(self.study, v, n)), "ipc": ipc}
                              for n, v in self.study.named_points.items()},
            "reeval": reeval, "differences": differences(reeval),
            "config_notes": {"default": method.config_notes(self.study.distill, ipc),
                             "best": method.config_notes(best_cfg, best_ipc)},
            "flops": self._flops(best_cfg, best_ipc),
            "best_synset": str(out_dir / "synset.pt"), "best_png": str(out_dir / "synset.png"),
            "trials": rows, "plots": plots, "compute": self._compute(rows), "wall_time_s": time.time() - t0,
        }

    def _compute(self, rows: list[dict]) -> dict[str, float]:
        """Trial time of the search and what it reserved: CPU-/GPU-seconds = seconds x per-trial request."""
        seconds = sum(float(r.get("elapsed_s") or 0.0) for r in rows)
        return {"trial_seconds": seconds, "cpu_seconds": seconds * self.resources.cpu,
                "gpu_seconds": seconds * self.resources.gpu}

    def _plots(self, ipc: int, rows: list[dict]) -> dict[str, Any]:
        """Optimisation history and hyperparameter importance (PNG) of this IPC's Optuna study."""
        from dd_tune.plots import study_plots

        full = int(getattr(self.study.distill, "iterations", 0))
        # Optuna trial numbers follow creation order, as do Ray's rows sorted by start; match by params
        stopped = {json.dumps(r["config"], sort_keys=True, default=str) for r in rows
                   if r["error"] is None and r["it"] is not None
                   and r["it"] < int(r["config"].get("iterations", full))}
        import optuna

        study = optuna.load_study(study_name=optuna_name(self.study, ipc), storage=f"sqlite:///{self.db}")
        early = {t.number for t in study.trials if json.dumps(t.params, sort_keys=True, default=str) in stopped}
        plots = study_plots(self.db, optuna_name(self.study, ipc), self.dir / "plots" / f"ipc{ipc}", early)
        for note in plots["notes"]:
            print(f"[dd_tune] IPC {ipc}: {note}", flush=True)
        return plots

    def search(self, ipc: int, default: dict[str, Any], resume: bool = False) -> Any:
        """Run (or, with ``resume``, restore and finish) the search of one IPC; its ResultGrid."""
        from dd_tune.tuning import Search

        return Search(self.study, self.space, self.dir, self.db, self.resources).run(
            ipc, default, self.setup(ipc), resume)


    def _best(self, grid) -> tuple[Any, list[dict]]:
        rows = []
        for r in grid:
            m = r.metrics or {}
            rows.append({"trial": str(r.path).rsplit("/", 1)[-1], "config": dict(r.config or {}),
                         METRIC: m.get(METRIC), "it": m.get("it"), "diverged": m.get("diverged", 0),
                         "node": m.get("node_id"), "resumed_from": m.get("resumed_from"),
                         "elapsed_s": m.get("elapsed_s"),
                         "error": _failure(r)})
        finite = [r for r in grid if _failure(r) is None and r.checkpoint is not None and r.metrics
                  and math.isfinite(r.metrics.get(METRIC, float("nan")))]
        if not finite:
            raise StudyFailed(f"all {len(grid)} trials failed; first error: "
                              f"{next((x['error'] for x in rows if x['error']), 'none reported')}")
        best = max(finite, key=lambda r: (r.metrics[METRIC], r.metrics.get("it", 0)))
        return best, rows

    def _default_synset(self, grid, default: dict[str, Any], ipc: int) -> Any:
        """The default trial's final set when it ran its full budget (ASHA may have stopped it)."""

        full = int(getattr(self.study.distill, "iterations", 0))
        for r in grid:
            if r.error is None and r.config == default and r.checkpoint is not None \
                    and (r.metrics or {}).get("it", -1) >= full:
                with r.checkpoint.as_directory() as d:
                    return SynSet.load(Path(d) / "synset.pt")
        return self._distill_remote(ipc, default, "the default configuration")

    def _distill_remote(self, ipc: int, values: dict[str, Any], what: str) -> Any:
        """Submit the distillation as a Ray task and return its ``ObjectRef`` without waiting: the
        re-evaluation takes refs, so every extra set is distilled in parallel with the rest."""
        import ray

        cfg = with_method_values(self.study, values, what)
        print(f"[dd_tune] distilling {what} at IPC {ipc} ({getattr(cfg, 'iterations', 0)} iterations, "
              f"in parallel with the re-evaluation)", flush=True)
        task = ray.remote(num_cpus=self.resources.cpu, num_gpus=self.resources.gpu)(_distill_task)
        return task.remote(self.setup(ipc), values, config_index(values))

    def _random_real(self, ipc: int) -> dict[str, SynSet]:
        """``final_eval.random_real_draws`` independent random-real sets (``random_real_draw<d>``)."""
        from dd_tune.methods.random_real import RandomRealConfig

        study = dataclasses.replace(self.study, method="random_real", distill=RandomRealConfig())
        setup = self.setup(ipc, study)
        return {f"{RANDOM_REAL_DRAW}{d + 1}": _distill_task(setup, {}, RANDOM_REAL_INDEX + d)
                for d in range(self.study.final_eval.random_real_draws)}

    def _flops(self, best_cfg: Any, ipc: int) -> dict[str, Any]:
        from dd_tune.data import DATASETS
        from dd_tune.flops import evaluation_flops, forward_flops

        spec = DATASETS.get(self.study.dataset)
        e = self.study.final_eval
        fwd = {arch: forward_flops(model_spec_for(arch, spec, self.study.model)) for arch in e.archs}
        distill_fwd = fwd.get(self.study.model.name) or forward_flops(
            model_spec_for(self.study.model.name, spec, self.study.model))
        method = METHODS.get(self.study.method).distiller_cls  # each method counts its own passes
        n_syn = spec.num_classes * ipc
        return {
            "forward_per_image": fwd,
            "distillation_best": method.flops(best_cfg, distill_fwd, spec.num_classes, ipc),
            "distillation_default": method.flops(self.study.distill, distill_fwd, spec.num_classes, ipc),
            "evaluation_one_run": {a: evaluation_flops(f, n_syn, e.epochs, spec.test_images) for a, f in fwd.items()},
        }

    def _expert_flops(self, configs: list[Any]) -> dict[str, int]:
        """FLOPs of the expert stage: difficulty scoring (once per distinct scoring setup, as cached)
        and expert training (every expert of every pool, with its data schedule)."""
        from dd_tune.experts import expert_flops
        from dd_tune.flops import forward_flops

        data = self.setup(self.study.ipc[0]).data()
        fwd = forward_flops(model_spec_for(self.study.model.name, data.spec, self.study.model))
        counts = [int(c) for c in data.train.counts]
        total = {"difficulty": 0, "training": 0}
        scored: set[str] = set()
        for cfg in configs:
            f = expert_flops(cfg, fwd, counts)
            key = json.dumps([to_dict(cfg.difficulty), cfg.seed], sort_keys=True)
            if key not in scored:  # scores are cached per scoring setup: computed once
                total["difficulty"] += f["difficulty"]
                if f["difficulty"]:
                    scored.add(key)
            total["training"] += f["training"]
        return total
