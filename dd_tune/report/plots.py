"""PNG figures of a finished search, read back from its Optuna study (sqlite).

* optimisation history: each trial's validation accuracy in the order Optuna created them, with the
  best-so-far line (ASHA-stopped trials are marked: their value is a lower-fidelity one);
* hyperparameter importance: Optuna's PED-ANOVA evaluator (fANOVA as the fallback when scikit-learn
  is installed), over the trials that completed; it needs two completed trials whose parameters vary.

Figures are best-effort: a plot that cannot be made is reported with the reason, never fatal to a
study that has already spent its compute.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from dd_tune.records import ParetoPoint, SearchPlots, TrialRecord
from dd_tune.records.document import integer
from dd_tune.report.curves import pyplot, search_curves

if TYPE_CHECKING:  # optuna is imported where a plot is drawn
    from optuna import Study


CONTOUR_POINTS = 6  # distinct (x, y) points below which no contour is drawn


def _completed(study: Study) -> list[Any]:
    """Every trial with a result: run to its budget (COMPLETE) or stopped early by ASHA (PRUNED, valued at
    the accuracy it had when stopped, as Optuna records a pruned trial)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.trials if t.state in done and t.values]


def _all_as_complete(study: Study) -> Any:
    """An in-memory copy of ``study`` in which stopped trials count as finished at their last value:
    Optuna's importance evaluators read COMPLETE trials only, and the two thirds of a search that ASHA
    stops early are most of the contrast an importance needs."""
    import optuna

    copy = optuna.create_study(directions=study.directions)
    copy.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=t.values)
                     for t in _completed(study)])
    return copy


def _accuracy(trial: Any) -> float:
    """The accuracy objective (the first one; a study that searches IPC also minimises images)."""
    return float(trial.values[0])


def _save_accuracy_plot(fig: Any, ax: Any, study: Any, xlabel: str, path: Path) -> Path:
    """Shared labelling and saving of the plots with validation accuracy on the y axis."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(study.study_name)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot().close(fig)
    return path


def history_plot(study: Study, path: Path, stopped_early: set[int] | None = None) -> Path:
    """Validation accuracy per trial (Optuna order) and the best so far."""
    trials = _completed(study)
    if not trials:
        raise ValueError("no completed trial")
    xs = [t.number for t in trials]
    ys = [_accuracy(t) for t in trials]
    best, run = [], float("-inf")
    for y in ys:
        run = max(run, y)
        best.append(run)
    fig, ax = pyplot().subplots(figsize=(6, 3.5), dpi=120)
    early = (stopped_early or set()) | {t.number for t in trials if t.state.name == "PRUNED"}
    ax.scatter([x for x in xs if x not in early], [y for x, y in zip(xs, ys) if x not in early],
               label="trial (full budget)", color="tab:blue")
    if early:
        ax.scatter([x for x in xs if x in early], [y for x, y in zip(xs, ys) if x in early],
                   label="stopped early by ASHA", color="tab:gray", marker="x")
    ax.step(xs, best, where="post", color="tab:red", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers: no t2.5
    return _save_accuracy_plot(fig, ax, study, "trial (Optuna number)", path)


def param_importances(study: Study) -> tuple[dict[str, float], str]:
    """(importance per parameter, evaluator and the number of trials it rests on: ``PED-ANOVA, 8 trials``);
    PED-ANOVA first, fANOVA as the fallback."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    trials = _completed(study)
    varied = {k for t in trials for k in t.params if len({str(u.params.get(k)) for u in trials}) > 1}
    if len(trials) < 2 or not varied:
        raise ValueError(f"needs >= 2 completed trials with varying parameters (have {len(trials)})")
    errors = []
    evaluators = (("PED-ANOVA", PedAnovaImportanceEvaluator), ("fANOVA", lambda: FanovaImportanceEvaluator(seed=0)))
    for name, make in evaluators:
        try:  # fANOVA needs scikit-learn, which dd_tune does not require
            # PED-ANOVA with a custom target ranks *low* values as good: give it -accuracy (fANOVA
            # decomposes variance and does not care about the sign)
            with warnings.catch_warnings():  # its notices ("computes importances for low targets", "some
                # regimes have less than 2 trials"): handled, the label says how many trials it rests on
                warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")
                warnings.filterwarnings("ignore", message="Some regimes for parameter")
                return optuna.importance.get_param_importances(_all_as_complete(study), evaluator=make(),
                                                               params=sorted(varied),
                                                               target=lambda t: -_accuracy(t)), \
                    f"{name}, {len(trials)} trials"
        except Exception as e:  # each evaluator has its own preconditions; report both if both fail
            errors.append(f"{name}: {e}")
    raise ValueError("; ".join(errors))


def importance_plot(study: Study, path: Path) -> tuple[Path, dict[str, float], str]:
    importances, evaluator = param_importances(study)
    names = sorted(importances, key=lambda n: importances[n])
    fig, ax = pyplot().subplots(figsize=(6, 0.4 * len(names) + 1.2), dpi=120)
    ax.barh(names, [importances[n] for n in names], color="tab:green")
    ax.set_xlabel(f"importance for validation accuracy ({evaluator})")
    ax.set_title(study.study_name)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot().close(fig)
    return path, importances, evaluator


def _save_optuna_figure(fig: Any, path: Path) -> None:
    """Save one of Optuna's matplotlib figures (its axes refuse tight_layout: a tight bounding box instead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)


def slice_plot(study: Study, params: list[str], path: Path) -> str | None:
    """Validation accuracy against each of the most important parameters, one dot per trial (Optuna's
    slice plot, with the trials ASHA stopped at the accuracy they had)."""
    import warnings

    import optuna

    if not params or len(study.directions) != 1:
        return None
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore")
        axes = optuna.visualization.matplotlib.plot_slice(_all_as_complete(study), params=params,
                                                          target_name="validation accuracy (%)")
    fig: Any = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
    fig.set_size_inches(3.2 * len(params), 3.4)
    _save_optuna_figure(fig, path)
    return str(path)


def contour_plot(study: Study, params: list[str], path: Path) -> str | None:
    """Validation accuracy over the plane of the two most important parameters (Optuna's contour plot,
    trials ASHA stopped at the accuracy they had): where the good region lies and whether the two
    interact. None with fewer than two parameters or several objectives."""
    import warnings

    import optuna

    if len(params) < 2 or len(study.directions) != 1:
        return None
    points = {(repr(t.params.get(params[0])), repr(t.params.get(params[1]))) for t in _completed(study)}
    if len(points) < CONTOUR_POINTS:  # an interpolated surface through fewer points only draws the interpolation
        raise ValueError(f"the contour over {params[0]} and {params[1]} needs at least {CONTOUR_POINTS} distinct "
                         f"points; this study has {len(points)}")
    with warnings.catch_warnings():  # experimental plots; its interpolation warns on few trials
        warnings.simplefilter("ignore")
        ax = optuna.visualization.matplotlib.plot_contour(_all_as_complete(study), params=params[:2],
                                                          target_name="validation accuracy (%)")
    fig: Any = (ax.flat[0] if hasattr(ax, "flat") else ax).get_figure()
    fig.set_size_inches(5.0, 4.0)
    _save_optuna_figure(fig, path)
    return str(path)


def pareto_front(study: Study) -> list[ParetoPoint]:
    """The non-dominated trials of an (accuracy up, images down) study, fewest images first."""
    front = [ParetoPoint(t.number, float(t.values[0]), int(t.values[1]), dict(t.params)) for t in study.best_trials]
    return sorted(front, key=lambda p: (p.images, -p.val_acc))


def pareto_plot(study: Study, path: Path) -> Path:
    trials = _completed(study)
    front = pareto_front(study)
    fig, ax = pyplot().subplots(figsize=(6, 3.5), dpi=120)
    ax.scatter([t.values[1] for t in trials], [t.values[0] for t in trials], color="tab:gray", label="trial")
    ax.plot([p.images for p in front], [p.val_acc for p in front], "o-", color="tab:red",
            label="Pareto front")
    return _save_accuracy_plot(fig, ax, study, "synthetic images (IPC x classes)", path)


def study_plots(db: Path, study_name: str, out_dir: Path, stopped_early: set[int] | None = None) -> SearchPlots:
    """The figures of one Optuna study (each best-effort: a figure that cannot be drawn says why in ``notes``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{db}")
    notes: list[str] = []
    history = importance = evaluator = slice_path = contour = pareto_path = None
    importances: dict[str, float] = {}
    try:
        history = str(history_plot(study, out_dir / "history.png", stopped_early))
    except Exception as e:
        notes.append(f"no optimisation history: {e}")
    try:
        path, importances, evaluator = importance_plot(study, out_dir / "importance.png")
        importance = str(path)
        slice_path = slice_plot(study, sorted(importances, key=lambda k: -importances[k])[:3], out_dir / "slice.png")
    except Exception as e:
        notes.append(f"no hyperparameter importance: {e}")
    try:
        contour = contour_plot(study, sorted(importances, key=lambda k: -importances[k])[:2], out_dir / "contour.png")
    except ValueError as e:
        notes.append(f"no contour plot: {e}")
    front = None
    if len(study.directions) == 2:  # IPC searched: accuracy up, images down
        front = tuple(pareto_front(study))
        try:
            pareto_path = str(pareto_plot(study, out_dir / "pareto.png"))
        except Exception as e:
            notes.append(f"no Pareto plot: {e}")
    return SearchPlots(history, importance, importances, tuple(notes), evaluator, slice_path, contour, front,
                       pareto_path)


def search_plots(db: Path, study_name: str, out_dir: Path, rows: Sequence[TrialRecord], full_iterations: int,
                 note: Callable[[str], None], marked: dict[str, str] | None = None) -> SearchPlots:
    """:func:`study_plots` of one IPC's search, with the trials ASHA stopped early marked (``rows``: the
    report's trial rows; a trial with fewer iterations than its budget was stopped), and the
    accuracy-vs-iteration curves of every trial with the ``marked`` ones (label -> trial) in bold."""
    import optuna

    # Optuna trial numbers follow creation order, as do Ray's rows sorted by start; match by params
    stopped = {json.dumps(r.config, sort_keys=True, default=str) for r in rows
               if r.error is None and r.iteration is not None
               and r.iteration < integer(r.config.get("iterations"), full_iterations)}
    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{db}")
    early = {t.number for t in study.trials if json.dumps(t.params, sort_keys=True, default=str) in stopped}
    plots = study_plots(db, study_name, out_dir, early)
    for line in plots.notes:
        note(line)
    return dataclasses.replace(plots, curves=search_curves(rows, marked or {}, out_dir / "curves.png", study_name))
