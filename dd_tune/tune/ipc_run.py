"""One IPC of a study, in the order that keeps the test split untouched until the end: the search, the
confirmation of its finalists on validation (the choice), the sets distilled beside it, the test pass;
each stage returns its outcome and :func:`dd_tune.tune.ipc_record.ipc_result` builds the record once."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dd_tune.base.keys import BEST, DEFAULT
from dd_tune.config import REEVAL_DIR, to_dict
from dd_tune.core.synset import SynSet
from dd_tune.methods.configs import with_method_values
from dd_tune.records import IpcResult
from dd_tune.search.setup import TrialSetup
from dd_tune.search.space import default_point
from dd_tune.search.trainable import GRIDS, config_index
from dd_tune.tune.confirm import Candidate
from dd_tune.tune.finalists import Stage, confirmation, run_test_pass
from dd_tune.tune.ipc_record import ChosenSet, IpcContext, TestOutcome, ipc_result
from dd_tune.tune.resources import Resources
from dd_tune.tune.search_stage import run_search
from dd_tune.tune.sets import default_set, extra_sets, random_real_sets


@dataclass(frozen=True)
class IpcRun:
    """One IPC's stages: ``ctx`` says where (the study at this IPC, its storage), ``setup`` gives a trial
    set-up at an IPC (a searched IPC may choose another), ``resources`` what each trial and job asks for."""

    ctx: IpcContext
    setup: Callable[[int], TrialSetup]
    resources: Resources
    multi_ipc: bool  # the study runs several IPCs: each keeps its best set in best/ipc<N>/

    def run(self, resume: bool) -> IpcResult:
        """Search, confirm the finalists on validation and choose, then test the chosen set, the defaults,
        random real and the extra sets once on the test split."""
        t0, ctx, r = time.time(), self.ctx, self.resources
        study, ipc = ctx.study, ctx.ipc
        default = default_point(study, ctx.space, ipc)
        search = run_search(ctx, default, self.setup(ipc), self.resources, resume)
        stage = Stage(study, self.setup(ipc), r.cpu, r.gpu, ctx.study_dir.parent / REEVAL_DIR)
        default_source = default_set(search.grid, default, self.setup(ipc), r.cpu, r.gpu)
        t_confirm = time.time()
        candidates, confirmed = confirmation(stage, search.grid, default, default_source)
        confirm_s = time.time() - t_confirm
        picked = confirmed.chosen
        chosen = next(c for c in candidates if picked is not None and c.name == picked.name)
        best_values = {k: v for k, v in chosen.values.items() if k != "ipc"}
        best_cfg = with_method_values(study, best_values, "chosen configuration")
        best_ipc = int(chosen.values.get("ipc", ipc))
        best_set, out_dir = self.save_best(chosen, best_cfg)
        default_final = best_set if chosen.is_default else next(c.source for c in candidates if c.is_default)
        sets = {BEST: best_set, DEFAULT: default_final, **random_real_sets(self.setup(best_ipc)),
                **(random_real_sets(self.setup(best_ipc), best_set.factor) if best_set.factor > 1 else {}),
                **extra_sets(best_set, best_values, best_cfg, self.setup(ipc), self.setup(best_ipc), r.cpu, r.gpu,
                             config_index(chosen.values))}
        t_final = time.time()
        reeval, candidate_tests, lr_rows = run_test_pass(stage, sets, candidates, chosen)
        test = TestOutcome(reeval, candidate_tests, lr_rows, sets, stage, time.time() - t_final)
        return ipc_result(ctx, search, confirmed, confirm_s, ChosenSet(chosen, best_cfg, best_ipc, out_dir), test, t0)

    def save_best(self, chosen: Candidate, best_cfg: Any) -> tuple[SynSet, Path]:
        """The chosen set, saved (with its pictures along the way) in ``best/`` of the study."""
        import ray

        ctx = self.ctx
        best_set = chosen.source if isinstance(chosen.source, SynSet) else ray.get(chosen.source)
        out_dir = ctx.study_dir / "best" / f"ipc{ctx.ipc}" if self.multi_ipc else ctx.study_dir / "best"
        best_set.meta.update({"config": to_dict(best_cfg), "study": ctx.study.name})
        best_set.save(out_dir / "synset.pt")
        best_set.save_png(out_dir / "synset.png", whitening=self.setup(ctx.ipc).whitening())  # un-whitened
        if chosen.result is not None and (Path(chosen.result.path) / GRIDS).is_dir():  # its pictures along the way
            shutil.copytree(Path(chosen.result.path) / GRIDS, out_dir / "progress", dirs_exist_ok=True)
        return best_set, out_dir
