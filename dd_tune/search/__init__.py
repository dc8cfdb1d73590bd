"""The search room: one IPC's Ray Tune + Optuna search and its trials. The search space and its Optuna
distributions, the resumable Optuna searcher, the trainable (one trial: distil, report, checkpoint),
the trial's set-up, fault rules, trial names, the console progress, TensorBoard and the overhead probe.
The orchestration above it (dd_tune.tune) runs one search per IPC and everything after."""
