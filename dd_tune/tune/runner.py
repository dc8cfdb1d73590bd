"""A study on Ray, as a short orchestration: the expert stage, then per IPC the search and the final
evaluation, then the report. Each step is its own module (``experts_stage``, ``search``, ``sets``,
``final_eval``); typed results (:class:`IpcResult`, :class:`StudyResult`) go to the reports.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

from dd_tune.config import EXPERTS_DIR, StudyConfig, to_dict
from dd_tune.methods import METHODS
from dd_tune.methods.configs import study_at
from dd_tune.records import ExpertStage, IpcResult, OverheadProbe, StudyResult
from dd_tune.report.study_report import write_report
from dd_tune.search.faults import delay_rules, fault_rules
from dd_tune.search.overhead import overhead_once
from dd_tune.search.setup import TrialSetup
from dd_tune.search.space import SearchSpace, default_point
from dd_tune.tune.experts_stage import run_expert_stage
from dd_tune.tune.ipc_files import keep, read_back
from dd_tune.tune.ipc_record import IpcContext
from dd_tune.tune.ipc_run import IpcRun
from dd_tune.tune.resources import Resources
from dd_tune.tune.study_record import StudyRun, protocol_of, study_inputs, study_result


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
        inputs = study_inputs(self.study, self.data_root)  # at the start: the code and data this run read
        for ipc in self.study.ipc:
            for note in self.method.config_notes(study_at(self.study, ipc).distill, ipc):
                if note.startswith("Warning"):
                    print(f"[dd_tune] IPC {ipc}: {note}", flush=True)
        (self.dir / "study.json").write_text(json.dumps(to_dict(self.study), indent=2))
        stage = self.train_experts()
        probe = self.overhead_probe(resume)
        by_ipc = {str(ipc): self._ipc(ipc, resume) for ipc in self.study.ipc}
        run = StudyRun(self.study, self.space, self.dir, self.resources, self._protocol())
        result = study_result(run, by_ipc, time.time() - t0, stage, probe, inputs)
        write_report(result, self.dir)
        return result

    def overhead_probe(self, resume: bool) -> OverheadProbe | None:
        """Ray's overhead on a trial, measured once per study (kept across a resume); None when switched off."""
        if not self.study.search.overhead_probe:
            return None
        ipc = self.study.ipc[0]
        return overhead_once(self.setup(ipc), default_point(self.study, self.space, ipc), self.dir,
                             self.resources.cpu, self.resources.gpu, resume)

    def _protocol(self) -> str:
        return protocol_of(self.study)

    def _ipc(self, ipc: int, resume: bool) -> IpcResult:
        """One IPC, or its result read back when a resumed study had already finished it."""
        done = read_back(self.dir, ipc) if resume else None
        if done is not None:
            return done
        at = self.at_ipc(ipc)
        ctx = IpcContext(at.study, at.space, ipc, at.dir, at.data_root, at.resources.cpu, at.resources.gpu)
        result = IpcRun(ctx, at.setup, at.resources, len(at.study.ipc) > 1).run(resume)
        keep(result, self.study, self.dir, ipc, self._protocol())
        return result
