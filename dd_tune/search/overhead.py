"""Ray's overhead on a trial, measured once per study: the same short trial in-process and in Ray Tune.

The probe is the study's default configuration cut to :data:`PROBE_ITERATIONS` iterations with a
one-epoch, one-model proxy evaluation (one report, one checkpoint, one picture), with the study's
per-trial resources. It runs as a direct call of :func:`run_trial` with the dataset already loaded in
that process (a trial "in-process": what a loop of trials in one process would cost; in the driver, or
for GPU trials in a plain Ray task on a worker with a GPU), then twice in one Ray Tune experiment, one
trial after the other: the first pays for the experiment's set-up and a fresh actor (process start,
imports, data loading), the second reuses that actor as the search's trials do (``reuse_actors``).
The second one's extra time over the in-process run is Ray's overhead on a trial of a search; the
report divides it by the study's mean trial time, and gives the first one's as the cold-start cost.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from dd_tune.base.keys import REPORTED_AT
from dd_tune.records import OverheadProbe
from dd_tune.report.stored import read_record
from dd_tune.search.board import no_board
from dd_tune.search.interrupts import handlers_restored
from dd_tune.search.progress import tune_console
from dd_tune.search.setup import TrialSetup
from dd_tune.search.trainable import config_index, dd_trainable, run_trial

PROBE_ITERATIONS = 10
PROBE_DIR = "overhead_probe"  # under the study directory (Ray Tune's experiment of the probe)


def probe_setup(setup: TrialSetup) -> TrialSetup:
    """The trial setup of the probe: the same study with a 1-epoch, 1-model proxy evaluation and at most
    :data:`PROBE_ITERATIONS` distillation iterations, reported once."""
    s = setup.study
    n = max(1, min(PROBE_ITERATIONS, int(getattr(s.distill, "iterations", PROBE_ITERATIONS) or PROBE_ITERATIONS)))
    distill = dataclasses.replace(s.distill, iterations=n) if hasattr(s.distill, "iterations") else s.distill
    study = dataclasses.replace(
        s, distill=distill, proxy_eval=dataclasses.replace(s.proxy_eval, epochs=1, models=1),
        search=dataclasses.replace(s.search, report_every=n))
    return dataclasses.replace(setup, study=study, fault="", tensorboard=False)


def probe_config(setup: TrialSetup, default: dict[str, Any]) -> dict[str, Any]:
    """The default point with the probe's iteration count where the space searches iterations."""
    config = dict(default)
    if "iterations" in config:
        config["iterations"] = getattr(setup.study.distill, "iterations", config["iterations"])
    return config


def _in_process(setup: TrialSetup, config: dict[str, Any]) -> float:
    """Seconds of one probe trial called directly, its dataset already loaded in this process."""
    threads = torch.get_num_threads()
    setup.data()  # a loop of trials in one process loads the data once
    t0 = time.perf_counter()
    try:
        run_trial(config, setup, config_index(config), lambda metrics, state, synset: None)
    finally:
        torch.set_num_threads(threads)  # run_trial sets the trial's count; the driver keeps its own
    return time.perf_counter() - t0


def _in_ray_tune(setup: TrialSetup, config: dict[str, Any], study_dir: Path, cpu: float,
                 gpu: float) -> tuple[float, float]:
    """(seconds of the same trial as a one-trial Ray Tune experiment timed from the driver, seconds of a
    second identical trial that reuses the first one's actor, as in the search).

    The two trials run one after the other in one experiment (``reuse_actors``, one at a time); the
    second one's time is from the first one's last report to its own (``reported_at``): actor reset,
    scheduling, its work, reporting and checkpointing, without the experiment's set-up or a process start.
    """
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(dd_trainable, setup=setup), {"cpu": cpu, "gpu": gpu})
    tuner = tune.Tuner(trainable, param_space=config,
                       tune_config=tune.TuneConfig(num_samples=2, max_concurrent_trials=1, reuse_actors=True,
                                                   trial_dirname_creator=lambda t: f"trial_{t.trial_id}"),
                       run_config=tune.RunConfig(name=PROBE_DIR, storage_path=str(study_dir), verbose=0,
                                                 callbacks=[no_board()]))
    t0 = time.time()
    with handlers_restored(), tune_console():  # Tune's SIGINT handler would outlive fit (dd_tune.search.interrupts)
        grid = tuner.fit()
    trials = grid._experiment_analysis.trials  # as Search._check_complete: Ctrl-C ends fit normally
    if len(trials) < 2 or any(t.status not in ("TERMINATED", "ERROR") for t in trials):
        raise KeyboardInterrupt  # the probe was stopped (Ctrl-C or SIGTERM), not failed: the run stops
    if grid.errors:
        raise RuntimeError(str(grid.errors[0]).strip().splitlines()[-1])
    first, second = sorted(float((grid[i].metrics or {})[REPORTED_AT]) for i in range(len(grid)))
    return first - t0, second - first


def overhead_once(setup: TrialSetup, default: dict[str, Any], study_dir: Path, cpu: float, gpu: float,
                  resume: bool) -> OverheadProbe:
    """Ray's overhead on a trial, measured once per study: a resumed study reads back what it measured."""
    done = study_dir / "overhead_probe.json"
    if resume and done.exists():
        probe = OverheadProbe.from_json(read_record(done, "delete it to measure the probe again"))
        if probe is not None:
            return probe
    probe = measure_overhead(setup, default, study_dir, cpu, gpu)
    done.write_text(json.dumps(probe.to_json(), indent=2))
    return probe


def measure_overhead(setup: TrialSetup, default: dict[str, Any], study_dir: Path, cpu: float,
                     gpu: float) -> OverheadProbe:
    """The probe's seconds in-process, in a fresh Ray trial and on a reused actor, or why it failed: a probe
    that fails leaves the study running (the report then says the overhead was not measured)."""
    t0 = time.time()
    import ray

    probe = probe_setup(setup)
    config = probe_config(probe, default)
    iterations = int(getattr(probe.study.distill, "iterations", 0))
    print(f"[dd_tune] measuring Ray's overhead on a trial: a {iterations}-iteration trial in-process and in "
          f"Ray Tune", flush=True)
    try:
        if gpu > 0:  # the driver may have no GPU: a plain task on a worker that has one
            in_process = ray.get(ray.remote(num_cpus=cpu, num_gpus=gpu)(_in_process).remote(probe, config))
        else:  # the driver is such a process already, with no worker to start
            in_process = _in_process(probe, config)
        in_ray, reused = _in_ray_tune(probe, config, study_dir, cpu, gpu)
    except Exception as e:  # noqa: BLE001 - a measurement, never a reason to stop the study
        print(f"[dd_tune] overhead probe failed ({type(e).__name__}: {e}); the report says so", flush=True)
        return OverheadProbe(iterations, seconds=time.time() - t0, error=f"{type(e).__name__}: {e}")
    print(f"[dd_tune] probe trial: {in_process:.1f} s in-process, {in_ray:.1f} s as a one-trial Ray Tune "
          f"experiment, {reused:.1f} s on a reused actor", flush=True)
    return OverheadProbe(iterations, in_process, in_ray, reused, time.time() - t0)
