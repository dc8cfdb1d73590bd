"""The seed-report suite: its configuration (fast), its answer tables on made-up report data (fast), and
a smoke run end to end (slow)."""

from __future__ import annotations

import json

import pytest
from factories import acc as _entry
from factories import ipc_result, study_result
from PIL import Image

from dd_tune.base.errors import ConfigError
from dd_tune.config import EvalConfig, load_suite
from dd_tune.core.datasets import DATASETS
from dd_tune.core.protocols import describe as describe_protocol
from dd_tune.report.reproduction import noise_lines, noise_pair, report_rows, report_table, row_sentence, setting_check
from dd_tune.tune.suite import suite_studies


def _report(study, method, reeval, named=None, trials=(), progress=None, best_config=None):
    row = ipc_result(
        ipc=10, reeval={k: {"convnet": _entry(v), "lenet": _entry([x - 10 for x in v])} for k, v in reeval.items()},
        named_configs=named or {}, best_config=best_config or {"lr_img": 3.0, "ipc": 10},
        default_config={"lr_img": 1.0, "ipc": 10}, trials=list(trials), progress=progress or {})
    return study_result({"10": row}, study=study, method=method)


def test_seed_report_suite_runs_every_method_from_real_and_from_noise_at_ipc_10():
    suite = load_suite("seed_report", "quick")
    studies = suite_studies(suite)
    assert [s.name for s in studies] == ["dm_mnist", "dm_mnist_noise", "datadam_mnist", "datadam_mnist_noise",
                                         "pad_mnist", "pad_mnist_noise"]
    assert all(s.ipc == (10,) and s.init_variants == () for s in studies)
    assert {s.distill.init for s in studies if s.name.endswith("_noise")} == {"noise"}
    # every MNIST row of the report is measured by a study of the suite (or the full-data reference)
    measured = [r for r in suite.report_rows if not r.elsewhere]
    assert len(measured) == 7 and all(r.set for r in measured)
    named = {s.name: set(s.named_points) | {"best", "default"} for s in studies}
    for r in measured:
        assert r.set == "full_data" or r.set in named[r.study], r.title


def test_report_rows_must_name_studies_of_the_suite(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "studies: [dm_mnist]\nreport_rows: [{title: x, reported: 50, study: pad_mnist, set: default}]\n")
    with pytest.raises(ConfigError, match="names study 'pad_mnist', which the suite does not run"):
        load_suite(str(tmp_path / "s.yaml"))
    (tmp_path / "t.yaml").write_text("studies: [dm_mnist]\nreport_rows: [{title: x, reported: 50, set: full_data}]\n")
    with pytest.raises(ConfigError, match="full_data.epochs"):
        load_suite(str(tmp_path / "t.yaml"))


def test_setting_check_names_what_a_scaled_profile_changed():
    assert setting_check({"init": "noise", "iterations": 1000}, {"init": "noise", "iterations": 100}) == \
        ["iterations 100 (report 1000)"]
    assert setting_check({"init": "noise"}, {"init": "noise", "iterations": 5}) == []


def test_report_table_places_the_reported_number_against_the_interval():
    suite = load_suite("seed_report")
    results = {
        "dm_mnist_noise": _report("dm_mnist_noise", "dm", {
            "seed_report_0": [10.0, 11.0, 9.0], "seed_report_500": [96.0, 97.0, 98.0],
            "seed_report_1000": [90.0, 91.0, 92.0], "best": [97.0, 97.5, 98.0],
            "random_real": [80.0, 81.0, 79.0, 80.5]},
            named={"seed_report_0": {"init": "noise", "iterations": 0, "ipc": 10},
                   "seed_report_500": {"init": "noise", "iterations": 500, "batch_real": 256, "ipc": 10},
                   "seed_report_1000": {"init": "noise", "iterations": 100, "batch_real": 256, "ipc": 10}}),
    }
    full_data = {"convnet": {"runs": [98.0, 98.5], "mean": 98.25}, "epochs": 1}  # as full_data.json holds it
    rows = {r["title"]: r for r in report_rows(suite, results, full_data)}
    r500 = rows["DM, noise init, 500 iterations"]
    # the report's one model against one new dd_tune model: 97 ± t(2) * 1 * sqrt(1 + 1/3) = [92.03, 101.97]
    assert ("inside the 95 % prediction interval for one new dd_tune model [92.03, 101.97]: consistent with it"
            in r500["sentence"]) and r500["differs"] == []
    assert "reproduced" not in r500["sentence"]
    r1000 = rows["DM, noise init, 1000 iterations"]
    assert ("outside the 95 % prediction interval for one new dd_tune model [86.03, 95.97], above it by 1.33 points"
            in r1000["sentence"]) and r1000["differs"] == ["iterations 100 (report 1000)"]
    assert r1000["tuned_minus_setting"].diff == pytest.approx(6.5)  # paired by model seed
    assert "against random real" in r1000["sentence"]
    assert rows["PAD, noise init, 1000 iterations (the report: best of 0 / 500 / 1000)"]["at_setting"] is None  # study not run
    assert "Not measured here: python -m dd_tune.study datadam_mhist" in \
        rows["DataDAM on MHIST, ConvNet-7, noise init, 10 iterations"]["sentence"]
    assert rows["Full training set, ConvNet-3, 20 epochs"]["at_setting"].mean == 98.25
    md = "\n".join(report_table(list(rows.values()), suite.report_name))
    assert "| DM, noise init, 1000 iterations | convnet | 97.30 | 91.00 ± 1.00 [88.52, 93.48] (n=3) (scaled) |" in md
    # every dd_tune cell carries the protocol that produced it and how it differs from the authors'
    line = describe_protocol(EvalConfig(epochs=200, models=3), DATASETS.get("mnist"))
    md = "\n".join(report_table(list(rows.values()), suite.report_name, suite.report_protocol, line))
    assert f"Every dd_tune cell (†) was evaluated with {line};" in md and "dd_tune at its setting †" in md
    assert "differs from the authors' evaluate_synset (DC/DSA/DM): the lr drops one epoch earlier" in md


def test_report_profile_runs_the_reports_dm_and_datadam_settings_unscaled():
    """The `report` profile: every DM and DataDAM row at the report's own setting (no "(scaled)"), 5 models
    per architecture; PAD's rows stay in the table and name the profile that measures them."""
    from dd_tune.methods.configs import with_method_values

    suite = load_suite("seed_report", "report")
    studies = {s.name: s for s in suite_studies(suite)}
    assert set(studies) == {"dm_mnist_noise", "datadam_mnist"} and suite.noise_pairs == ()
    assert {"pad_mnist", "pad_mnist_noise"} <= set(suite.not_run)
    measured = [row for row in suite.report_rows if row.study in studies]
    assert len(measured) == 4
    for row in measured:
        study = studies[row.study]
        ran = {**vars(with_method_values(study, study.named_points[row.set], row.set)), "ipc": study.ipc[0]}
        assert setting_check(row.setting, ran) == [], row.title
    for study in studies.values():
        assert study.final_eval.models >= 5 and study.final_eval.archs == ("convnet", "lenet")
        assert study.profile == "quick" and study.search.num_samples == 1  # no search: the defaults only
    rows = {r["title"]: r for r in report_rows(suite, {}, {})}
    pad = rows["PAD, init from correctly classified real images"]
    assert pad["at_setting"] is None and "the `report` profile leaves pad_mnist out" in pad["sentence"]
    assert "--profile quick` runs it" in pad["sentence"]


def test_a_study_that_ran_only_its_defaults_has_no_tuned_column():
    suite = load_suite("seed_report", "report")
    one = _report("dm_mnist_noise", "dm", {"seed_report_500": [96.0, 97.0, 98.0], "best": [90.0, 91.0, 92.0]},
                  named={"seed_report_500": {"init": "noise", "iterations": 500, "batch_real": 256, "ipc": 10}},
                  trials=[{"val_acc": 90.0, "it": 150}])
    rows = {r["title"]: r for r in report_rows(suite, {"dm_mnist_noise": one}, {})}
    r500 = rows["DM, noise init, 500 iterations"]
    assert r500["at_setting"] is not None and r500["tuned"] is None and "tuned (" not in r500["sentence"]


def test_a_suite_profile_chooses_among_the_suites_studies(tmp_path):
    (tmp_path / "s.yaml").write_text("studies: [dm_mnist, pad_mnist]\nnoise_pairs: [[dm_mnist, pad_mnist]]\n"
                                     "report_rows: [{title: t, reported: 50, study: pad_mnist, set: default}]\n"
                                     "profiles:\n  one: {studies: [dm_mnist]}\n  bad: {studies: [dm_mnist_noise]}\n")
    one = load_suite(str(tmp_path / "s.yaml"), "one")
    assert one.studies == ("dm_mnist",) and one.not_run == ("pad_mnist",) and one.noise_pairs == ()
    with pytest.raises(ConfigError, match=r"runs \['dm_mnist_noise'\], which the suite does not list"):
        load_suite(str(tmp_path / "s.yaml"), "bad")


def test_noise_pair_draws_curves_and_progress_and_names_skipped_updates(tmp_path):
    pics = {}
    for it in (0, 50, 100):
        pics[str(it)] = str(tmp_path / f"it{it}.png")
        Image.new("RGB", (40, 40), "gray").save(pics[str(it)])
    def trial(acc: float, skipped: int = 0) -> dict:
        return {"val_acc": acc, "it": 100, "error": None, "history": [[50, acc - 5], [100, acc]],
                "counters": {"skipped_steps": skipped, "skipped_threshold": skipped,
                             "matching_loss_min": 1.234, "matching_under_threshold": 0.03}}
    real = _report("pad_mnist", "pad", {"best": [90.0, 91.0]}, trials=[trial(88.0), trial(80.0)], progress=pics)
    noise = _report("pad_mnist_noise", "pad", {"best": [20.0, 25.0]}, trials=[trial(22.0, skipped=97)],
                    progress=pics, best_config={"threshold": 100.0, "ipc": 10})
    pair = noise_pair(real, noise, tmp_path / "figures")
    assert pair["convnet"]["noise_minus_real"].diff == pytest.approx(-68.0)
    assert Image.open(pair["curves"]).size[0] > 300 and Image.open(pair["progress"]).size[0] > 600
    text = "\n".join(noise_lines([pair]))
    assert "skipped 97 of 100 updates (97 over the loss threshold)" in text
    assert "its lowest matching loss was 1.234, and 3 % of its iterations had a finite loss at or under" in text and "'threshold': 100.0" in text


@pytest.mark.slow
def test_smoke_seed_report_suite_end_to_end(tmp_path, data_root, ray_session):
    from dd_tune.compare import main

    assert main(["seed_report", "--profile", "smoke", "--storage", str(tmp_path), "--data-root", str(data_root)]) == 0
    data = json.loads((tmp_path / "seed_report" / "compare.json").read_text())
    measured = [r for r in data["report_rows"] if not r["elsewhere"]]
    assert len(measured) == 7 and all(r["at_setting"] is not None for r in measured)
    assert all(r["tuned"] is not None for r in measured if r["title"] != "Full training set, ConvNet-3, 20 epochs")
    assert [p["method"] for p in data["noise_vs_real"]] == ["dm", "datadam", "pad"]
    for pair in data["noise_vs_real"]:
        assert pair["curves"] and pair["progress"] and pair["convnet"]["noise"] is not None
    md = (tmp_path / "seed_report" / "compare.md").read_text()
    assert md.index("## The seed report's results, re-run") < md.index("## From noise, tuned for noise") < md.index("## IPC 1")


def test_the_mhist_rows_say_what_their_numbers_mean():
    suite = load_suite("seed_report")
    rows = {r["title"]: r for r in report_rows(suite, {}, {})}
    for r in rows.values():
        r["sentence"] = row_sentence(r, suite.report_name)
    md = "\n".join(report_table(list(rows.values()), suite.report_name))
    noise = rows["DataDAM on MHIST, ConvNet-7, noise init, 10 iterations"]
    assert "about what always answering HP scores" in noise["note"] and noise["note"] in md
    full = rows["Full training set on MHIST, ConvNet-7"]
    assert full["reported"] == 92.96 and "far above published from-scratch results" in full["note"]
    assert full["note"] in md


def test_a_report_name_ending_in_s_takes_a_plain_apostrophe():
    from dd_tune.report.reproduction import _possessive

    assert _possessive("The published tables") == "The published tables'"
    assert _possessive("The seed report") == "The seed report's"


def test_a_report_row_reads_the_ipc_its_setting_names():
    """The cifar10 suite's rows are per IPC: each published number sits beside that IPC's results; an IPC
    the profile did not run falls back to the first one and the row says the run was scaled."""
    suite = load_suite("cifar10")

    def at(ipc, default, best):
        return ipc_result(ipc=ipc, reeval={"default": {"convnet": _entry(default)}, "best": {"convnet": _entry(best)},
                                           "random_real": {"convnet": _entry([x - 20 for x in default])}},
                          default_config={"iterations": 10000, "ipc": ipc}, best_config={"ipc": ipc},
                          trials=[{"val_acc": 1.0}, {"val_acc": 2.0}])

    pad = study_result({"1": at(1, [40.0, 41.0], [42.0, 43.0]), "10": at(10, [60.0, 61.0], [62.0, 63.0])},
                       study="pad_cifar10", method="pad")
    rows = {r["title"]: r for r in report_rows(suite, {"pad_cifar10": pad}, {})}
    assert rows["PAD, IPC 1"]["at_setting"].mean == 40.5 and rows["PAD, IPC 1"]["differs"] == []
    assert rows["PAD, IPC 10"]["at_setting"].mean == 60.5 and rows["PAD, IPC 10"]["tuned"].mean == 62.5
    assert rows["PAD, IPC 10"]["differs"] == []
    assert rows["PAD, IPC 50"]["at_setting"].mean == 40.5 and rows["PAD, IPC 50"]["differs"] == ["ipc 1 (report 50)"]
