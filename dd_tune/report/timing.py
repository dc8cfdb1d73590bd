"""Where a study's time went: a table per IPC built from the trials' own timings and the driver's wall
clock, and one line that adds the IPCs, the expert stage and the rest up to the study's wall time.

Trial work (set-up, distillation, proxy evaluation, Ray's share inside a trial) is summed over trials and
divided by the number of trial slots that ran side by side, so every row is in wall-clock seconds and
the rows add up to the IPC's wall time; "Ray scheduling and idle slots" is what the search's wall time
does not explain by trial work (slots waiting for a trial, actor start-up, the searcher).
"""

from __future__ import annotations

from dd_tune.base.keys import trial_number
from dd_tune.records import IpcResult, StudyResult, TrialTiming


def _summed(row: IpcResult) -> TrialTiming | None:
    """The trials' timings added up (None when no trial recorded timings)."""
    timings = [t.timing for t in row.trials if t.timing is not None]
    return TrialTiming.total(timings) if timings else None


def time_rows(row: IpcResult) -> list[tuple[str, float]]:
    """``[(what, wall seconds), ...]`` of one IPC, ending with its wall time; [] for results without timings
    (reports written before dd_tune recorded them)."""
    timing, sums = row.timing, _summed(row)
    if timing is None or sums is None:
        return []
    slots = max(1.0, timing.slots)
    setup, distill, proxy, trial = sums.setup_s, sums.distill_s, sums.eval_s, sums.trial_s
    ray_inside = max(0.0, trial - setup - distill - proxy)
    search, final, wall = timing.search_s, timing.final_eval_s, timing.wall_s
    confirm = timing.confirm_s  # 0 in reports written before the confirmation
    return [
        ("distillation", distill / slots),
        ("proxy evaluation", proxy / slots),
        ("trial set-up (data, initial set)", setup / slots),
        ("checkpoints, reporting, pictures (Ray, inside trials)", ray_inside / slots),
        ("Ray scheduling and idle slots", max(0.0, search - trial / slots)),
        ("confirmation of the finalists on validation (defaults distilled alongside)", confirm),
        ("evaluation-lr choice and test pass (extra sets distilled alongside)", final),
        ("best set, plots, report", max(0.0, wall - search - confirm - final)),
        ("wall time of this IPC", wall),
    ]


def ray_overhead(row: IpcResult) -> float | None:
    """Ray's cost as a fraction of the trials' own work: (Σ trial wall time in Ray − Σ work timed inside the
    trial, i.e. what the same trial costs in-process) / Σ work. None without timings."""
    sums = _summed(row)
    if sums is None or sums.work_s <= 0:
        return None
    return max(0.0, sums.trial_s - sums.work_s) / sums.work_s


def time_lines(row: IpcResult) -> list[str]:
    """The IPC section's "where the time went" table, trial throughput and Ray's overhead."""
    rows = time_rows(row)
    if not rows:
        return []
    wall = rows[-1][1]
    timing = row.timing
    if timing is None:  # time_rows found it; this narrows the type
        return []
    lines = ["Where the time went (wall-clock seconds; trial work summed over trials and divided by the "
             f"{timing.slots:g} trial slots that ran side by side):", "",
             "| | seconds | share |", "|---|---:|---:|"]
    lines += [f"| {what} | {sec:.0f} | {100 * sec / wall:.1f} % |" for what, sec in rows[:-1]]
    explained = sum(sec for _, sec in rows[:-1])
    lines += [f"| **{rows[-1][0]}** | **{wall:.0f}** | rows add up to {100 * explained / wall:.1f} % |", ""]
    lines += lost_lines(row) + batch_lines(row)
    per_hour = row.n_trials / timing.search_s * 3600 if timing.search_s > 0 else 0.0
    overhead = ray_overhead(row)
    lines += [f"Trial throughput: {per_hour:.1f} trials per hour ({row.n_trials} trials in "
              f"{timing.search_s:.0f} s of search)"
              + (f"; Ray's overhead on a trial: {100 * overhead:.1f} % (trial wall time in Ray vs the work the "
                 f"trial timed itself: set-up, distillation, proxy evaluation)." if overhead is not None else "."),
              ""]
    return lines


def batch_wait(row: IpcResult) -> float | None:
    """Slot-seconds the deterministic search's batches cost: for each batch, every trial's slot idle from
    the trial's end to the end of the slowest trial of its batch. None when the search was not batched or
    the trials did not record their ends (reports of earlier versions)."""
    width = row.timing.batch if row.timing else 0
    ends: dict[int, list[float]] = {}
    for t in row.trials:
        number, ended = trial_number(t.trial), t.ended_at
        if number is None or ended is None:
            return None
        ends.setdefault(number // width if width else 0, []).append(float(ended))
    if not width or not ends:
        return None
    return sum(max(batch) - end for batch in ends.values() for end in batch)


def batch_lines(row: IpcResult) -> list[str]:
    """The cost of the deterministic search: idle slot time while batches waited for their slowest trial."""
    wait, timing = batch_wait(row), row.timing
    if wait is None or timing is None:
        return []
    capacity = timing.slots * timing.search_s
    share = f" ({100 * wait / capacity:.1f} % of the search's {capacity:.0f} slot-seconds)" if capacity > 0 else ""
    return [f"Deterministic search (batches of {timing.batch} trials, search.deterministic): trial slots "
            f"waited {wait:.0f} slot-seconds in all for the slowest trial of their batch{share}; part of the "
            f"\"Ray scheduling and idle slots\" row.", ""]


def lost_lines(row: IpcResult) -> list[str]:
    """What crashes and dead nodes cost the IPC: trials restarted from their last checkpoint (and the
    seconds between that checkpoint and the restart), and the nodes Ray declared dead in each stage (about
    15 s after a node stops answering, so a death is counted in the stage that noticed it), whose jobs ran
    again elsewhere with the same seeds; [] when nothing was lost."""
    restarts = sum(t.failures for t in row.trials)
    lost = sum(t.lost_s for t in row.trials)
    parts = []
    if restarts:
        parts.append(f"{restarts} trial restart(s) from the last checkpoint, {lost:.0f} s of trial time lost "
                     f"(from that checkpoint to the restart)")
    if row.nodes_lost:
        died = ", ".join(f"{n} during the {stage}" for stage, n in row.nodes_lost.items())
        parts.append(f"Ray nodes declared dead: {died}"
                     + " (their trials resumed and their jobs ran again elsewhere, with the same seeds)")
    return ["Crashes and lost nodes: " + "; ".join(parts) + ".", ""] if parts else []


def placement_lines(row: IpcResult) -> list[str]:
    """Where the evaluation jobs ran, per stage (the trials' own column is in the trial table)."""
    if not row.job_places:
        return []
    lines = ["Where the evaluation jobs ran: "
             + "; ".join(f"{stage}: " + ", ".join(f"{n} {where}" for where, n in sorted(places.items()))
                         for stage, places in row.job_places.items()) + ".", ""]
    return lines


def study_time_line(report: StudyResult) -> list[str]:
    """The study's wall time = expert stage + overhead probe + each IPC + the rest, and the probe's verdict."""
    ipcs = {ipc: row.timing.wall_s if row.timing else 0.0 for ipc, row in report.by_ipc.items()}
    if not all(ipcs.values()):
        return []
    stage = report.expert_stage.seconds if report.expert_stage else 0.0
    probe_s = report.overhead_probe.seconds if report.overhead_probe else 0.0
    wall = float(report.wall_time_s)
    rest = wall - stage - probe_s - sum(ipcs.values())
    parts = (([f"expert stage {stage:.0f} s"] if stage else [])
             + ([f"overhead probe {probe_s:.0f} s"] if probe_s else []))
    parts += [f"IPC {k} {v:.0f} s" for k, v in ipcs.items()]
    return [f"Wall time {wall:.0f} s = " + " + ".join(parts) + f" + the rest (study files, report) {rest:.0f} s.", ""] \
        + probe_lines(report)


def mean_trial_work(report: StudyResult) -> float | None:
    """Mean seconds of work per trial (set-up, distillation, proxy evaluation), all IPCs; None without timings."""
    works = [t.timing.work_s for row in report.by_ipc.values() for t in row.trials if t.timing is not None]
    return sum(works) / len(works) if works else None


def probe_lines(report: StudyResult) -> list[str]:
    """What the overhead probe measured (dd_tune.search.overhead), as a share of this study's mean trial."""
    probe = report.overhead_probe
    if probe is None:
        return []
    if probe.error is not None:
        return [f"Ray's overhead on a trial was not measured: the probe failed ({probe.error}).", ""]
    inproc, cold = probe.in_process_s or 0.0, probe.ray_s or 0.0
    reused = probe.ray_reused_s  # absent in reports of the first probe version
    extra = (cold if reused is None else reused) - inproc
    in_ray = ([] if reused is None else [f"{reused:.1f} s on a reused actor, as the search's trials run"]) \
        + [f"{cold:.1f} s for the first trial of an experiment (fresh actor, experiment set-up)"]
    line = (f"Ray's overhead on a trial, measured once on a short run ({probe.iterations} iterations, one "
            f"report, a 1-epoch proxy evaluation): {inproc:.1f} s in-process; in Ray Tune "
            + ", ".join(in_ray) + f" = {extra:.1f} s per trial")
    mean = mean_trial_work(report)
    if mean:
        verdict = "within" if extra / mean <= OVERHEAD_TARGET else "above"
        line += (f", {100 * extra / mean:.1f} % of this study's mean trial ({mean:.0f} s of work): {verdict} the "
                 f"{100 * OVERHEAD_TARGET:.0f} % target")
    return [line + ".", ""]


OVERHEAD_TARGET = 0.05  # Ray's share of a trial that a study should stay under
