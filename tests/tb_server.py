"""What TensorBoard's web page lists for a folder: runs and scalar tags, read from TensorBoard's own server
(the JSON endpoints its browser front end calls), on loopback, in-process."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())


SESSIONS = {"experimentName": "", "startIndex": 0, "sliceSize": 1000, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]}


def served(logdir: Path, expect_runs: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """``{"runs": [...], "scalars": {run: [tags]}, "images": {run: [tags]}, "hparams": [column names in
    order], "types": {column: type}, "metrics": [tags], "sessions": {run: {"hparams": {...}, "metrics":
    {tag: value}}}}`` as TensorBoard serves them once it has loaded at least ``expect_runs`` runs."""
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(logdir=str(logdir), host="127.0.0.1", port=_free_port(), reload_interval=1,
                    load_fast="false")
    url = board.launch()
    deadline = time.time() + timeout_s
    runs: list[str] = []
    while time.time() < deadline:
        runs = _get(url + "data/runs")
        if len(runs) >= expect_runs:
            break
        time.sleep(0.5)
    scalars = _get(url + "data/plugin/scalars/tags")
    images = _get(url + "data/plugin/images/tags")
    experiment = _post(url + "data/plugin/hparams/experiment", {"experimentName": ""})
    groups = _post(url + "data/plugin/hparams/session_groups", SESSIONS).get("sessionGroups", [])
    return {"runs": sorted(runs), "scalars": {r: sorted(t) for r, t in scalars.items()},
            "images": {r: sorted(t) for r, t in images.items()},
            "hparams": [h["name"] for h in experiment.get("hparamInfos", [])],
            "types": {h["name"]: h["type"] for h in experiment.get("hparamInfos", [])},
            "metrics": [m["name"]["tag"] for m in experiment.get("metricInfos", [])],
            "sessions": {g["name"]: {"hparams": g["hparams"],
                                     "metrics": {m["name"]["tag"]: m["value"] for m in g.get("metricValues", [])}}
                         for g in groups}}
