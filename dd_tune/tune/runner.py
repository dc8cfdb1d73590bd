"""A study on Ray, as a short orchestration: the expert stage, then per IPC the search and the final
evaluation, then the report. Each step is its own module (``experts_stage``, ``search``, ``sets``,
``final_eval``); typed results (:class:`IpcResult`, :class:`StudyResult`) go to the reports.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from dd_tune.base.errors import StudyFailed
from dd_tune.base.hashing import content_key, library_versions, package_digest
from dd_tune.base.keys import BEST, DEFAULT
from dd_tune.config import EXPERTS_DIR, REEVAL_DIR, StudyConfig, to_dict
from dd_tune.core.datasets import DATASETS, data_digest
from dd_tune.core.protocols import describe as describe_protocol
from dd_tune.core.synset import SynSet
from dd_tune.methods import METHODS
from dd_tune.methods.configs import study_at, with_method_values
from dd_tune.records.costs import ExpertStage, OverheadProbe
from dd_tune.records.provenance import Fingerprint, SearchedParam
from dd_tune.records.study import IpcResult, StudyResult
from dd_tune.report.fingerprint import inputs_fingerprint, outcome_digest
from dd_tune.report.stored import load_ipc_result, moved_here, read_record
from dd_tune.report.study_report import write_report
from dd_tune.search.annotate import annotate_optuna
from dd_tune.search.board import write_test_board
from dd_tune.search.board_view import write_board_view
from dd_tune.search.faults import delay_rules, fault_rules
from dd_tune.search.overhead import measure_overhead
from dd_tune.search.setup import TrialSetup
from dd_tune.search.space import SearchSpace, default_point, space_as_dict
from dd_tune.search.trainable import GRIDS, config_index
from dd_tune.search.trial_rows import trial_rows
from dd_tune.search.tuner import Search, optuna_name, optuna_numbers
from dd_tune.tune.capacity import cluster_capacity
from dd_tune.tune.cluster import dead_nodes
from dd_tune.tune.confirm import Candidate, usable
from dd_tune.tune.experts_stage import run_expert_stage
from dd_tune.tune.finalists import Stage, confirmation, run_test_pass
from dd_tune.tune.ipc_record import ChosenSet, IpcContext, SearchOutcome, TestOutcome, ipc_result
from dd_tune.tune.resources import Resources
from dd_tune.tune.sets import default_set, extra_sets, random_real_sets


def trial_slots(resources: Resources, concurrency: int) -> float:
    """How many trials run at once: what Ray can place with this study's per-trial resources, node by
    node (a 2-GPU node holds eight 0.25-GPU trials if its CPUs allow), capped by ``max_concurrent_trials``."""
    placeable = cluster_capacity().slots(resources.cpu, resources.gpu)
    return float(max(1, min(concurrency, placeable)))


class StudyRunner:
    def __init__(self, study: StudyConfig, space: SearchSpace, study_dir: Path, data_root: Path,
                 resources: Resources) -> None:
        self.study = study
        self.space = space
        self.dir = study_dir
        self.data_root = data_root
        self.resources = resources
        self.db = study_dir / "optuna.db"
        self.experts_dir = study_dir.parent / EXPERTS_DIR
        self.method = METHODS.get(study.method).distiller_cls
        self.fault = os.environ.get("DD_TUNE_FAULT_AFTER_REPORTS", "")
        self.delay = os.environ.get("DD_TUNE_TASK_DELAY", "")
        fault_rules(self.fault)  # a malformed testing hook fails here, not inside every trial
        delay_rules(self.delay)

    def setup(self, ipc: int, compute_experts: bool = False) -> TrialSetup:
        return TrialSetup(study_at(self.study, ipc), ipc, str(self.data_root), self.resources.gpu > 0,
                          self.resources.threads, str(self.experts_dir), compute_experts, fault=self.fault,
                          delay=self.delay)

    def at_ipc(self, ipc: int) -> "StudyRunner":
        """This runner with the study as it runs at ``ipc`` (``distill_by_ipc`` applied)."""
        runner = copy.copy(self)
        runner.study = study_at(self.study, ipc)
        return runner

    def train_experts(self) -> ExpertStage | None:
        """The expert stage: every expert the study needs, trained (or found cached) before any trial."""
        return run_expert_stage(self.study, self.space, self.setup(self.study.ipc[0], compute_experts=True),
                                self.resources.cpu, self.resources.gpu)

    def run(self, resume: bool = False) -> StudyResult:
        """The whole study. With ``resume``, finished IPCs are read back, an interrupted search is
        restored from Ray Tune's experiment state, and the expert stage finds its experts cached."""
        t0 = time.time()
        inputs = self._inputs()  # at the start: the code and data this run read, not what is there at its end
        for ipc in self.study.ipc:
            for note in self.method.config_notes(study_at(self.study, ipc).distill, ipc):
                if note.startswith("Warning"):
                    print(f"[dd_tune] IPC {ipc}: {note}", flush=True)
        (self.dir / "study.json").write_text(json.dumps(to_dict(self.study), indent=2))
        stage = self.train_experts()
        probe = self.overhead_probe(resume)
        by_ipc = {str(ipc): self._ipc(ipc, resume) for ipc in self.study.ipc}
        result = StudyResult(
            study=self.study.name, method=self.study.method, dataset=self.study.dataset,
            profile=self.study.profile, seed=self.study.seed,
            ipc=self.study.ipc[0] if len(self.study.ipc) == 1 else list(self.study.ipc),
            search_space={k: SearchedParam.from_json(v) for k, v in space_as_dict(self.space).items()},
            reference_defaults=to_dict(METHODS.get(self.study.method).config_cls()),
            by_ipc=by_ipc, wall_time_s=time.time() - t0, expert_stage=stage, protocol=self._protocol(),
            final_eval=to_dict(self.study.final_eval), proxy_eval=to_dict(self.study.proxy_eval),
            resources=dataclasses.asdict(self.resources), study_dir=str(self.dir), optuna_db=str(self.db),
            method_notes=list(self.method.report_notes), overhead_probe=probe, fingerprint=inputs)
        # the outcome's hash covers the record built above, so it joins the fingerprint of a copy
        result = dataclasses.replace(result, fingerprint=dataclasses.replace(inputs, outcome=outcome_digest(result)))
        write_report(result, self.dir)
        return result

    def _inputs(self) -> Fingerprint:
        """The inputs' fingerprint: configuration, code, data and libraries (dd_tune.report.fingerprint)."""
        return inputs_fingerprint(content_key(to_dict(self.study)), package_digest(),
                                  data_digest(self.study.dataset, self.data_root), library_versions())

    def overhead_probe(self, resume: bool) -> OverheadProbe | None:
        """Ray's overhead on a trial, measured once per study (kept across a resume); None when switched off."""
        if not self.study.search.overhead_probe:
            return None
        done = self.dir / "overhead_probe.json"
        if resume and done.exists():
            return OverheadProbe.from_json(read_record(done, "delete it to measure the probe again"))
        ipc = self.study.ipc[0]
        default = default_point(self.study, self.space, ipc)
        probe = measure_overhead(self.setup(ipc), default, self.dir, self.resources.cpu, self.resources.gpu)
        done.write_text(json.dumps(probe.to_json(), indent=2))
        return probe

    def _protocol(self) -> str:
        return describe_protocol(self.study.final_eval, DATASETS.get(self.study.dataset), self.study.data.zca)

    def _ipc(self, ipc: int, resume: bool) -> IpcResult:
        """One IPC, or its result read back when a resumed study had already finished it."""
        done_file = self.dir / f"ipc{ipc}.json"
        if resume and done_file.exists():
            print(f"[dd_tune] IPC {ipc}: finished before the interruption, read back", flush=True)
            return moved_here(load_ipc_result(done_file), self.dir)
        result = self.at_ipc(ipc).run_ipc(ipc, resume)
        write_board_view(self.dir, ipc, result, result.plots.importances)
        annotate_optuna(self.db, optuna_name(self.study, ipc), result)
        done_file.write_text(json.dumps(result.to_dict(), indent=2, default=str))
        return result

    def context(self, ipc: int) -> IpcContext:
        return IpcContext(self.study, self.space, ipc, self.dir, self.data_root, self.resources.cpu,
                          self.resources.gpu)

    def run_ipc(self, ipc: int, resume: bool = False) -> IpcResult:
        """Search one IPC, confirm the finalists on the validation split, choose, then test the chosen set,
        the defaults, random real and the extra sets once on the test split."""
        t0, ctx = time.time(), self.context(ipc)
        default = default_point(self.study, self.space, ipc)
        search = self._search(ipc, default, resume)
        r = self.resources
        stage = Stage(self.study, self.setup(ipc), r.cpu, r.gpu, self.dir.parent / REEVAL_DIR)
        default_source = default_set(search.grid, default, self.setup(ipc), r.cpu, r.gpu)
        t_confirm = time.time()
        candidates, confirmed = confirmation(stage, search.grid, default, default_source)
        confirm_s = time.time() - t_confirm
        picked = confirmed.chosen
        chosen = next(c for c in candidates if picked is not None and c.name == picked.name)
        best_values = {k: v for k, v in chosen.values.items() if k != "ipc"}
        best_cfg = with_method_values(self.study, best_values, "chosen configuration")
        best_ipc = int(chosen.values.get("ipc", ipc))
        best_set, out_dir = self._save_best(chosen, best_cfg, ipc)
        default_final = best_set if chosen.is_default else next(c.source for c in candidates if c.is_default)
        sets = {BEST: best_set, DEFAULT: default_final, **random_real_sets(self.setup(best_ipc)),
                **(random_real_sets(self.setup(best_ipc), best_set.factor) if best_set.factor > 1 else {}),
                **extra_sets(best_set, best_values, best_cfg, self.setup(ipc), self.setup(best_ipc), r.cpu, r.gpu,
                             config_index(chosen.values))}
        t_final = time.time()
        reeval, candidate_tests, lr_rows = run_test_pass(stage, sets, candidates, chosen)
        test = TestOutcome(reeval, candidate_tests, lr_rows, sets, stage, time.time() - t_final)
        result = ipc_result(ctx, search, confirmed, confirm_s, ChosenSet(chosen, best_cfg, best_ipc, out_dir), test,
                            t0)
        write_test_board(self.dir, best_ipc, reeval, result.best_config, self._protocol())
        return result

    def _search(self, ipc: int, default: dict[str, Any], resume: bool) -> SearchOutcome:
        """The search of one IPC, its trial records, and what it cost; fails when every trial failed."""
        t0 = time.time()
        slots = self._announce_slots(ipc)
        lost_before = dead_nodes()
        grid = Search(self.study, self.space, self.dir, self.db, self.resources).run(
            ipc, default, self.setup(ipc), resume)
        s = self.study.search
        # t03_... folders carry their Optuna number; trial_<id> folders of earlier versions are looked up by id
        rows = trial_rows(grid, optuna_numbers(self.db, optuna_name(self.study, ipc)))
        if not usable(grid):
            raise StudyFailed(f"all {len(grid)} trials failed; first error: "
                              f"{next((x.error for x in rows if x.error), 'none reported')}")
        slots = max(slots, trial_slots(self.resources, s.max_concurrent_trials))
        return SearchOutcome(grid, rows, time.time() - t0, slots, s.max_concurrent_trials if s.deterministic else 0,
                             len(dead_nodes() - lost_before))

    def _announce_slots(self, ipc: int) -> float:
        """Print how many trials run side by side (what Ray can place now, capped by the study's limit)."""
        r, limit = self.resources, self.study.search.max_concurrent_trials
        placeable = cluster_capacity().slots(r.cpu, r.gpu)
        slots = float(max(1, min(limit, placeable)))
        share = f"{r.gpu:g} GPU + {r.cpu:g} CPU" if r.gpu else f"{r.cpu:g} CPU"
        print(f"[dd_tune] IPC {ipc}: {slots:g} trial(s) at once ({share} each: the nodes up now hold "
              f"{placeable}, max_concurrent_trials is {limit})", flush=True)
        return slots

    def _save_best(self, chosen: Candidate, best_cfg: Any, ipc: int) -> tuple[SynSet, Path]:
        import ray

        best_set = chosen.source if isinstance(chosen.source, SynSet) else ray.get(chosen.source)
        out_dir = self.dir / "best" if len(self.study.ipc) == 1 else self.dir / "best" / f"ipc{ipc}"
        best_set.meta.update({"config": to_dict(best_cfg), "study": self.study.name})
        best_set.save(out_dir / "synset.pt")
        best_set.save_png(out_dir / "synset.png", whitening=self.setup(ipc).whitening())  # un-whitened
        if chosen.result is not None and (Path(chosen.result.path) / GRIDS).is_dir():  # its pictures along the way
            shutil.copytree(Path(chosen.result.path) / GRIDS, out_dir / "progress", dirs_exist_ok=True)
        return best_set, out_dir
