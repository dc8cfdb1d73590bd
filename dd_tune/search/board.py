"""TensorBoard as its users expect it: one run per trial (the trial's folder, where the trial also writes
its image grids), every curve against the distillation iteration, tags named as the report names them
(``val_acc``, ``loss``, ``skipped_threshold``, ``time/distill_s``; no ``ray/tune/`` bookkeeping), the
HParams tab at each trial's end, and the test pass as a run of its own (``test/``).

Ray Tune's own TensorBoard logger is replaced, not added to: it writes every result key under
``ray/tune/`` against its report counter, which puts the proxy accuracy on page 2 and on another x axis
than the images.
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import Any, Mapping

from dd_tune.base.keys import (
    DEVICE,
    DISTILL_S,
    DIVERGED,
    ELAPSED_S,
    EVAL_S,
    GPU_SHARE,
    IMAGES,
    ITERATION,
    NODE,
    NODE_ID,
    REACHED_BUDGET,
    REPORTED_AT,
    RESUMED_FROM,
    SETUP_S,
)
from dd_tune.records import Reeval
from dd_tune.report.rows import configuration_text
from dd_tune.report.tables import fmt_value
from dd_tune.search.board_view import SESSION_SUFFIX, shown

# result keys that are bookkeeping, not curves: Ray's own and the trial's (where/when/how big)
BOOKKEEPING = frozenset({
    ITERATION, "ipc", IMAGES, REPORTED_AT, ELAPSED_S, SETUP_S, RESUMED_FROM, NODE_ID, REACHED_BUDGET,
    "done", "training_iteration", "trial_id", "date", "timestamp", "pid", "hostname", "node_ip", "config",
    "time_this_iter_s", "time_total_s", "time_since_restore", "iterations_since_restore",
    "checkpoint_dir_name", "should_checkpoint", "timesteps_total", "episodes_total", DEVICE, GPU_SHARE, NODE,
    DIVERGED,  # a cause code, 0 until the trial's last report: the report names a diverged trial's cause
})
TIMES = frozenset({DISTILL_S, EVAL_S})
TEST_RUN = "test"  # <study>/test/: the test pass's accuracies, one scalar per row and architecture


def scalar_tags(result: Mapping[str, Any]) -> dict[str, float]:
    """The curves of one report: tag -> value (finite numbers only; timings under ``time/``)."""
    out = {}
    for key, value in result.items():
        if key in BOOKKEEPING or isinstance(value, bool) or not isinstance(value, Real):
            continue
        if math.isfinite(float(value)):
            out[f"time/{key}" if key in TIMES else key] = float(value)
    return out


_CLASSES: dict[str, type] = {}


def trial_board(default: Mapping[str, Any] | None = None) -> Any:
    """Ray Tune's TensorBoard callback with dd_tune's x axis and tags; each run's Text tab gives the
    trial's values and marks the reference defaults' trial (``default``). The class is built on first use:
    importing this module must not import Ray, so that help and --print-config stay fast."""
    board = _classes()["TrialBoard"]()
    board.default = dict(default or {})
    board._placed = set()
    return board


def trial_text(config: Mapping[str, Any], default: Mapping[str, Any]) -> str:
    """The Text-tab line of a trial: ``reference defaults: lr_img=1 ...`` or ``lr_img=0.068 ...``."""
    values = " ".join(f"{k}={fmt_value(v)}" for k, v in sorted(config.items()))
    return ("reference defaults: " if default and dict(config) == dict(default) else "") + values


def placement_text(result: Mapping[str, Any]) -> str:
    """The Text-tab line of where a trial ran: ``cpu (simulated GPU), 0.5 GPU on 10.0.0.7 (...)``."""
    share = float(result.get(GPU_SHARE) or 0.0)
    return f"{result.get(DEVICE)}{f', {share:g} GPU' if share else ''} on {result.get(NODE)}"


def no_board() -> Any:
    """Stands in for Ray's TensorBoard logger in experiments that are not the search (the overhead
    probe), so they add no runs beside the trials."""
    return _classes()["NoBoard"]()


def _classes() -> dict[str, type]:
    if _CLASSES:
        return _CLASSES
    from ray.tune.logger import TBXLoggerCallback
    from ray.tune.utils import flatten_dict

    class TrialBoard(TBXLoggerCallback):
        default: dict[str, Any] = {}
        _placed: set[Any] = set()

        def log_trial_start(self, trial: Any) -> None:
            super().log_trial_start(trial)
            self._trial_writer[trial].add_text("trial", trial_text(trial.config, self.default), global_step=0)

        def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
            if trial not in self._trial_writer:
                self.log_trial_start(trial)
            if DEVICE in result and trial not in self._placed:  # where it ran, once (a retry says again)
                self._placed.add(trial)
                self._trial_writer[trial].add_text("ran on", placement_text(result), global_step=0)
            step = int(result.get(ITERATION, iteration))
            tags = scalar_tags(result)
            for tag, value in tags.items():
                self._trial_writer[trial].add_scalar(tag, value, global_step=step)
            self._trial_result[trial] = tags  # what the HParams tab shows at the trial's end
            self._trial_writer[trial].flush()

        def _try_log_hparams(self, trial: Any, result: dict[str, Any]) -> None:
            # the sampled values with their types (``selection.embedding`` flattened; "off" for None, the
            # dataset's DSA for ""), in a file of their own: the board view (board_view.py) links the
            # trial's curves without this session and writes the final one, with the trial's role
            write_session(Path(trial.local_path), flatten_dict(trial.evaluated_params))

    class NoBoard(TBXLoggerCallback):
        def log_trial_start(self, trial: Any) -> None:
            pass

        def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
            pass

        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            pass

    _CLASSES.update(TrialBoard=TrialBoard, NoBoard=NoBoard)
    return _CLASSES


def write_session(folder: Path, params: Mapping[str, Any]) -> None:
    """A trial's HParams session (its values, typed; no experiment: TensorBoard gathers the columns from
    every trial's session) in ``folder``'s ``*.hparams`` event file."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    _, start, end = hparams({k: shown(k, v) for k, v in params.items()}, {})
    writer = SummaryWriter(str(folder), filename_suffix=SESSION_SUFFIX)
    try:
        writer._get_file_writer().add_summary(start)
        writer._get_file_writer().add_summary(end)
    finally:
        writer.close()


def test_table(reeval: Reeval) -> str:
    """The test pass as one Markdown table (TensorBoard's Text tab renders it): a row per set and
    architecture, mean ± std over its units, n and the 95 % interval."""
    lines = ["| set | architecture | test accuracy (%) | n | 95 % interval |", "|---|---|---|---|---|"]
    for row, by_arch in reeval.items():
        for arch, e in by_arch.items():
            ci = f"[{e.ci95[0]:.2f}, {e.ci95[1]:.2f}]" if e.ci95 else "-"
            spread = f" ± {e.std:.2f}" if e.n > 1 else ""
            lines.append(f"| {row} | {arch} | {e.mean:.2f}{spread} | {e.n} | {ci} |")
    return "\n".join(lines)


def write_test_board(study_dir: Path, ipc: int, reeval: Reeval, chosen: Mapping[str, Any] | None = None,
                     protocol: str = "") -> None:
    """The test pass in TensorBoard: ``test_acc/<arch>/<row>`` (the mean over fresh models) at step IPC,
    in the run ``test/`` beside the trials, so the search's curves and the final answer sit together; the
    Text tab holds the chosen configuration (with the iterations it ran, when ASHA stopped it early) and the
    evaluation protocol."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(study_dir / TEST_RUN))
    try:
        if chosen is not None:
            writer.add_text("chosen_configuration", configuration_text(chosen), global_step=ipc)
        if protocol:
            writer.add_text("evaluation_protocol", protocol, global_step=ipc)
        writer.add_text("test_rows", test_table(reeval), global_step=ipc)  # every row in one view
        for row, by_arch in reeval.items():
            for arch, entry in by_arch.items():
                if math.isfinite(entry.mean):
                    writer.add_scalar(f"test_acc/{arch}/{row}", float(entry.mean), global_step=ipc)
    finally:
        writer.close()

