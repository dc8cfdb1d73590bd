"""Study figures from an Optuna sqlite study: history and hyperparameter importance."""

from __future__ import annotations

import optuna
import pytest

from dd_tune.records import TrialRecord
from dd_tune.report.plots import param_importances, study_plots


def make_study(db, n: int):
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{db}", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    # accuracy driven by lr only; the batch size is noise-free irrelevant
    study.optimize(lambda t: 100 - (t.suggest_float("lr", 0.01, 10, log=True) - 1) ** 2
                   + 0 * t.suggest_categorical("batch", [16, 32]), n_trials=n)
    return study


def test_importance_ranks_the_parameter_that_matters(tmp_path):
    study = make_study(tmp_path / "o.db", 20)
    importances, evaluator = param_importances(study)
    assert evaluator in (f"fANOVA, {len(study.trials)} trials", f"PED-ANOVA, {len(study.trials)} trials")
    assert importances["lr"] > importances["batch"]


def test_study_plots_write_pngs_and_note_what_cannot_be_drawn(tmp_path):
    make_study(tmp_path / "o.db", 6)
    out = study_plots(tmp_path / "o.db", "s", tmp_path / "plots", stopped_early={1})
    for key in ("history", "importance"):
        assert getattr(out, key) and (tmp_path / "plots" / f"{key}.png").read_bytes()[:4] == b"\x89PNG"
    assert not out.notes

    one = optuna.create_study(study_name="one", storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    one.optimize(lambda t: t.suggest_float("lr", 0.1, 1.0), n_trials=1)
    out = study_plots(tmp_path / "o.db", "one", tmp_path / "p1")
    assert out.history and out.importance is None
    assert any("needs >= 2 completed trials" in n for n in out.notes)


def test_importance_needs_varying_parameters(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize")
    study.optimize(lambda t: t.suggest_categorical("x", [1]), n_trials=3)
    with pytest.raises(ValueError, match="varying parameters"):
        param_importances(study)


def test_pareto_front_of_accuracy_versus_images(tmp_path):
    from dd_tune.report.plots import pareto_front

    study = optuna.create_study(study_name="p", storage=f"sqlite:///{tmp_path / 'o.db'}",
                                directions=["maximize", "minimize"])
    dist = {"ipc": optuna.distributions.CategoricalDistribution([1, 10, 50])}
    # ipc 10 at 90 dominates ipc 10 at 80; ipc 50 at 85 is dominated by ipc 10 at 90
    for ipc, acc in [(1, 60.0), (10, 80.0), (10, 90.0), (50, 85.0), (50, 95.0)]:
        study.add_trial(optuna.trial.create_trial(params={"ipc": ipc}, values=[acc, 10 * ipc], distributions=dist))
    front = pareto_front(study)
    assert [(p.params["ipc"], p.val_acc) for p in front] == [(1, 60.0), (10, 90.0), (50, 95.0)]
    out = study_plots(tmp_path / "o.db", "p", tmp_path / "plots")
    assert list(out.pareto) == front and (tmp_path / "plots" / "pareto.png").exists()
    assert out.history  # history and importance use the accuracy objective


def test_trials_stopped_early_count_in_importance_at_their_last_value(tmp_path):
    """ASHA's stopped trials are PRUNED in Optuna (valued at their last intermediate value); importance
    still sees them (Optuna's evaluators alone would read only the 4 complete trials)."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for k in range(16):
        t = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 10, log=True),
                       "batch": optuna.distributions.CategoricalDistribution([16, 32])})
        acc = 100 - (t.params["lr"] - 1) ** 2
        t.report(acc, 50)
        if k < 12 and acc < 99:  # the weak ones stop at the first rung
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, acc)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(t.value == t.intermediate_values[50] for t in pruned)
    importances, _ = param_importances(study)
    assert importances["lr"] > importances["batch"]


@pytest.mark.parametrize("result, error, pruned", [
    ({"val_acc": 80.0, "reached_budget": 0, "diverged": 0}, False, True),   # stopped by ASHA
    ({"val_acc": 80.0, "reached_budget": 1, "diverged": 0}, False, False),  # ran its budget
    ({"val_acc": 0.0, "reached_budget": 0, "diverged": 1}, False, False),   # diverged: a result (0)
    ({"val_acc": 80.0, "reached_budget": 0}, True, False),                  # failed
    ({"val_acc": 80.0}, False, False),                                      # a report of an earlier version
])
def test_which_trials_optuna_records_as_pruned(result, error, pruned):
    from dd_tune.search.optuna_search import stopped_early

    assert stopped_early(result, error) is pruned


def test_accuracy_vs_iteration_curves_mark_the_chosen_trial_and_the_defaults(tmp_path):
    from dd_tune.report.curves import search_curves

    rows = [TrialRecord.from_json(r) for r in ({"trial": "trial_a", "history": [[50, 80.0], [100, 85.0]]},
            {"trial": "trial_b", "history": [[50, 70.0]]},  # stopped by ASHA
            {"trial": "trial_c", "history": [[50, 75.0], [100, 88.0]]})]
    path = search_curves(rows, {"chosen": "trial_c", "reference defaults": "trial_a"}, tmp_path / "c.png", "s")
    assert path and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert search_curves([TrialRecord("t")], {}, tmp_path / "none.png", "s") is None


def test_a_slice_plot_of_the_most_important_parameters(tmp_path):
    make_study(tmp_path / "o.db", 8)
    out = study_plots(tmp_path / "o.db", "s", tmp_path / "plots")
    assert out.slice and (tmp_path / "plots" / "slice.png").read_bytes()[:4] == b"\x89PNG"
    # and the plane of the two most important ones
    assert out.contour and (tmp_path / "plots" / "contour.png").read_bytes()[:4] == b"\x89PNG"


def test_curves_show_the_chosen_and_the_defaults_as_one_line_when_they_coincide_and_mark_diverged(monkeypatch,
                                                                                                 tmp_path):
    from dd_tune.report import curves

    drawn = {}
    monkeypatch.setattr(curves, "curves_plot", lambda series, faint, path, title, diverged: drawn.update(
        series=series, faint=faint, diverged=diverged) or str(path))
    rows = [TrialRecord.from_json(r) for r in ({"trial": "t00", "history": [[2, 50.0], [4, 60.0]]},
                                                {"trial": "t01", "history": [[2, 40.0]]},
                                                {"trial": "t02", "history": [], "diverged": 1, "it": 2})]
    curves.search_curves(rows, {"chosen": "t00", "reference defaults": "t00"}, tmp_path / "c.png", "s")
    assert list(drawn["series"]) == ["chosen = reference defaults"] and drawn["diverged"] == [(2, 0.0)]
    assert drawn["faint"]["chosen = reference defaults"] == [((2, 40.0),)]  # the one-report trial is kept
    curves.search_curves(rows, {"chosen": "t01", "reference defaults": "t00"}, tmp_path / "c.png", "s")
    assert list(drawn["series"]) == ["chosen", "reference defaults"]


def test_no_contour_from_fewer_points_than_it_needs(tmp_path):
    from dd_tune.report.plots import CONTOUR_POINTS, contour_plot, study_plots

    study = make_study(tmp_path / "o.db", 3)
    with pytest.raises(ValueError, match=f"needs at least {CONTOUR_POINTS} distinct points; this study has 3"):
        contour_plot(study, ["lr", "batch"], tmp_path / "contour.png")
    plots = study_plots(tmp_path / "o.db", "s", tmp_path / "plots")
    assert plots.contour is None and any(n.startswith("no contour plot: ") for n in plots.notes)
