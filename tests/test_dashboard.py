"""A study's Optuna database opens in optuna-dashboard (the `dashboard` extra) and in Optuna's plotly
figures, with dd_tune's trial states (PRUNED for ASHA-stopped trials), trial ids, the objective's name and
each trial's role with its final accuracies (dd_tune.search.annotate)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import optuna


def _study(db: Path) -> optuna.Study:
    study = optuna.create_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{db}", direction="maximize")
    dists = {"lr_img": optuna.distributions.FloatDistribution(0.01, 10, log=True),
             "batch_real": optuna.distributions.CategoricalDistribution([16, 32])}
    for k, (lr, acc, stopped) in enumerate([(1.0, 85.0, False), (0.07, 89.0, False), (3.0, 70.0, True)]):
        t = study.ask(dists)
        t.set_user_attr("ray_trial_id", f"id{k}")
        t.report(acc, 50)
        study.tell(t, state=optuna.trial.TrialState.PRUNED) if stopped else study.tell(t, acc)
    return study


def _get(app, path: str) -> tuple[str, bytes]:
    status = {}
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
           "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO()}
    body = b"".join(app(env, lambda s, headers, exc_info=None: status.setdefault("s", s)))
    return status["s"], body


def test_optuna_dashboard_lists_the_study_and_its_trials(tmp_path: Path):
    from optuna_dashboard import wsgi

    _study(tmp_path / "optuna.db")
    app = wsgi(f"sqlite:///{tmp_path / 'optuna.db'}")
    status, body = _get(app, "/api/studies")
    assert status.startswith("200") and json.loads(body)["study_summaries"][0]["study_name"] == "dm_mnist-ipc1"
    status, body = _get(app, "/api/studies/1")
    trials = json.loads(body)["trials"]
    assert status.startswith("200") and [t["state"] for t in trials] == ["Complete", "Complete", "Pruned"]
    assert trials[2]["user_attrs"] == [{"key": "ray_trial_id", "value": "id2"}]


def test_optunas_plotly_figures_draw_the_study(tmp_path: Path):
    study = _study(tmp_path / "optuna.db")
    fig = optuna.visualization.plot_slice(study, params=["lr_img"])
    assert fig.data and len(fig.data[0].x) == 2  # the two completed trials


def test_the_dashboard_shows_the_objectives_name_and_each_trials_role_with_its_final_accuracies(tmp_path: Path):
    """dd_tune.search.annotate writes the decision back into the study: optuna-dashboard then names the
    objective, and trials carry their role (defaults, chosen, finalist) with confirmation and test values."""
    from factories import acc, ipc_result
    from optuna_dashboard import wsgi

    from dd_tune.search.annotate import annotate_optuna

    _study(tmp_path / "optuna.db")
    default = {"lr_img": 1.0, "batch_real": 16}
    rows = [{"trial": "t00", "config": default}, {"trial": "t01", "config": {"lr_img": 0.07, "batch_real": 32}},
            {"trial": "t02", "config": {"lr_img": 3.0, "batch_real": 16}}]
    confirmation = {"arch": "convnet", "rows": [{"name": "t01", "mean": 88.0, "chosen": True},
                                                {"name": "t00", "mean": 84.0, "chosen": False}]}
    result = ipc_result(trials=rows, default_config=default, confirmation=confirmation,
                        fidelity={"sets": ["t01", "t00"], "test": [88.5, 84.5]},
                        reeval={"best": {"convnet": acc([88.5])}, "default": {"convnet": acc([84.5])}})
    annotate_optuna(tmp_path / "optuna.db", "dm_mnist-ipc1", result)
    annotate_optuna(tmp_path / "optuna.db", "dm_mnist-ipc1", result)  # a resumed study: the same, not doubled
    app = wsgi(f"sqlite:///{tmp_path / 'optuna.db'}")
    status, body = _get(app, "/api/studies/1")
    detail = json.loads(body)
    assert status.startswith("200") and detail["objective_names"] == ["proxy validation accuracy (%)"]
    attrs = [{a["key"]: a["value"] for a in t["user_attrs"]} for t in detail["trials"]]
    assert attrs[1] == {"ray_trial_id": "id1", "dd_tune_role": "chosen", "dd_tune_confirm_acc": "88.0",
                        "dd_tune_test_acc_convnet": "88.5"}
    assert attrs[0]["dd_tune_role"] == "defaults finalist" and attrs[0]["dd_tune_test_acc_convnet"] == "84.5"
    assert "dd_tune_role" not in attrs[2]
    stored = optuna.load_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert stored.user_attrs == {"dd_tune_chosen": "t01"}  # dashboard's "Best Trial" is the proxy's best; this is ours
