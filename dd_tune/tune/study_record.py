"""The study's record, built once from its IPCs, with the fingerprint of what it ran from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dd_tune.base.hashing import content_key, library_versions, package_digest
from dd_tune.config import StudyConfig, to_dict
from dd_tune.core.datasets import DATASETS, data_digest
from dd_tune.core.protocols import describe as describe_protocol
from dd_tune.methods import METHODS
from dd_tune.records import ExpertStage, Fingerprint, IpcResult, OverheadProbe, StudyResult
from dd_tune.report.fingerprint import inputs_fingerprint, outcome_digest
from dd_tune.search.space import SearchSpace, searched_params
from dd_tune.tune.resources import Resources


def protocol_of(study: StudyConfig) -> str:
    """The evaluation protocol in words, as every report states it."""
    return describe_protocol(study.final_eval, DATASETS.get(study.dataset), study.data.zca)


def study_inputs(study: StudyConfig, data_root: Path) -> Fingerprint:
    """The inputs' fingerprint: configuration, code, data and libraries (dd_tune.report.fingerprint)."""
    return inputs_fingerprint(content_key(to_dict(study)), package_digest(), data_digest(study.dataset, data_root),
                              library_versions())


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """What a finished study ran: its configuration, space, storage and resources, and its protocol."""

    study: StudyConfig
    space: SearchSpace
    study_dir: Path
    resources: Resources
    protocol: str


def study_result(run: StudyRun, by_ipc: dict[str, IpcResult], wall_time_s: float, stage: ExpertStage | None,
                 probe: OverheadProbe | None, inputs: Fingerprint) -> StudyResult:
    """The study's record, its fingerprint completed with the hash of its outcome."""
    study = run.study
    result = StudyResult(
        study=study.name, method=study.method, dataset=study.dataset, profile=study.profile, seed=study.seed,
        ipc=study.ipc[0] if len(study.ipc) == 1 else list(study.ipc),
        search_space=searched_params(run.space),
        reference_defaults=to_dict(METHODS.get(study.method).config_cls()),
        by_ipc=by_ipc, wall_time_s=wall_time_s, expert_stage=stage, protocol=run.protocol,
        final_eval=to_dict(study.final_eval), proxy_eval=to_dict(study.proxy_eval),
        resources=dataclasses.asdict(run.resources), study_dir=str(run.study_dir),
        optuna_db=str(run.study_dir / "optuna.db"),
        method_notes=list(METHODS.get(study.method).distiller_cls.report_notes), overhead_probe=probe,
        fingerprint=inputs)
    # the outcome's hash covers the record built above, so it joins the fingerprint of a copy
    return dataclasses.replace(result, fingerprint=dataclasses.replace(inputs, outcome=outcome_digest(result)))
