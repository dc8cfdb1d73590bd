"""A study's Optuna database opens in optuna-dashboard (the `dashboard` extra) and in Optuna's plotly
figures, with dd_tune's trial states (PRUNED for ASHA-stopped trials) and trial ids."""

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
