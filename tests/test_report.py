"""Report data: the hard-label row, random real over draws, intervals and differences, the rendering."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from factories import acc as _entry
from factories import ipc_result, study_result
from scipy import stats as scipy_stats

from dd_tune.core.synset import SynSet
from dd_tune.records import SetAccuracy
from dd_tune.records.stats import paired_difference, summary, welch_difference
from dd_tune.report.rows import differences, fmt_acc, pool_random_real
from dd_tune.report.study_report import render_markdown


def test_hard_label_row_uses_each_images_class_not_its_soft_argmax():
    labels = torch.zeros(4, 2)
    labels[0, 1] = 5.0  # image 0 was made for class 0 but its learned label drifted to class 1
    labels[2:, 1] = 1.0
    s = SynSet(torch.zeros(4, 1, 28, 28), labels, "mnist", 2, "pad", lr=0.03)
    hard = s.with_class_labels()
    assert hard.labels.tolist() == [0, 0, 1, 1] and s.hard_labels.tolist() == [1, 0, 1, 1]
    assert hard.lr is None and torch.equal(hard.images, s.images)


def test_summary_is_the_t_interval_with_sample_std():
    xs = [88.0, 90.5, 89.0, 91.0, 90.0]
    s = summary(xs)
    sem = np.std(xs, ddof=1) / math.sqrt(5)
    lo, hi = scipy_stats.t.interval(0.95, 4, loc=np.mean(xs), scale=sem)
    assert s["mean"] == pytest.approx(np.mean(xs)) and s["std"] == pytest.approx(np.std(xs, ddof=1))
    assert s["ci95"] == pytest.approx([lo, hi]) and s["n"] == 5
    assert summary([90.0])["ci95"] is None and summary([])["n"] == 0


def test_paired_difference_is_the_interval_of_per_seed_differences():
    a, b = [90.0, 91.0, 89.5, 92.0], [88.0, 90.0, 89.0, 90.0]
    d = paired_difference(a, b)
    diffs = np.subtract(a, b)
    res = scipy_stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d.diff == pytest.approx(diffs.mean()) and d.ci95 == pytest.approx([res.low, res.high])
    assert d.kind == "paired" and d.covers_zero is False
    assert paired_difference([1.0, 2.0], [2.0, 1.0]).covers_zero is True
    same = paired_difference([90.0, 91.0], [90.0, 91.0])
    assert same.kind == "same" and same.covers_zero is None


def test_welch_difference_matches_scipy():
    a, b = [90.0, 91.0, 89.5], [50.0, 55.0, 48.0, 52.0, 47.5, 53.0]
    d = welch_difference(a, b)
    res = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d.diff == pytest.approx(np.mean(a) - np.mean(b)) and d.ci95 == pytest.approx([res.low, res.high])


def test_random_real_draws_pool_and_differences_are_paired_or_welch():
    reeval = {"best": {"convnet": _entry([90.0, 91.0, 90.5])}, "default": {"convnet": _entry([88.0, 89.5, 88.5])},
              "random_real_draw1": {"convnet": _entry([50.0, 52.0, 51.0])},
              "random_real_draw2": {"convnet": _entry([55.0, 54.0, 56.0])}}
    pooled = pool_random_real(reeval)
    rr = pooled["random_real"]["convnet"]
    assert set(pooled) == {"best", "default", "random_real"}
    # the draw is the unit: its interval counts 2 draws, not 6 models
    assert rr.models == [50.0, 52.0, 51.0, 55.0, 54.0, 56.0] and rr.runs == rr.draw_means == [51.0, 55.0]
    assert rr.draw_std == pytest.approx(np.std([51.0, 55.0], ddof=1)) and rr.n == 2
    half = scipy_stats.t.ppf(0.975, 1) * np.std([51.0, 55.0], ddof=1) / np.sqrt(2)
    assert rr.ci95 == pytest.approx([53.0 - half, 53.0 + half])
    diffs = {(d.a, d.b): d.difference for d in differences(pooled)}
    assert diffs[("best", "default")].kind == "paired"
    assert diffs[("best", "default")].diff == pytest.approx(np.mean([2.0, 1.5, 2.0]))
    assert diffs[("best", "random_real")].kind == "welch" and ("default", "random_real") in diffs
    welch = diffs[("best", "random_real")]  # Welch on 3 models against 2 draw means
    va, vb = np.var([90.0, 91.0, 90.5], ddof=1) / 3, np.var([51.0, 55.0], ddof=1) / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)
    assert welch.ci95[1] - welch.diff == pytest.approx(scipy_stats.t.ppf(0.975, df) * np.sqrt(va + vb))


def test_random_real_intervals_count_draws_not_models():
    """Three draws whose means differ a lot, each with tightly agreeing models: pooling the 9 values as
    independent gives a narrow interval; the draw-mean interval is what a new draw can do."""
    means = [30.0, 20.0, 40.0]
    reeval = {f"random_real_draw{d}": {"convnet": _entry([m - 0.5, m, m + 0.5])} for d, m in enumerate(means, 1)}
    rr = pool_random_real(reeval)["random_real"]["convnet"]
    half = scipy_stats.t.ppf(0.975, 2) * np.std(means, ddof=1) / np.sqrt(3)
    assert rr.ci95 == pytest.approx([30.0 - half, 30.0 + half])  # [5.16, 54.84]
    pooled = [v for m in means for v in (m - 0.5, m, m + 0.5)]
    naive = scipy_stats.t.ppf(0.975, 8) * np.std(pooled, ddof=1) / 3
    assert half > 3 * naive
    assert fmt_acc(rr) == f"30.00 ± 10.00 [{30 - half:.2f}, {30 + half:.2f}] (n=3 draws of 3 models)"


def test_one_model_prints_no_spread():
    assert fmt_acc(_entry([91.25])) == "91.25 (n=1)"


def test_markdown_gives_intervals_differences_draws_alpha_and_notes():
    reeval = pool_random_real({
        "best": {"convnet": _entry([90.0, 91.0, 90.5], lr=0.0321)},
        "default": {"convnet": _entry([90.2, 90.9, 90.4], lr=0.01)},
        "random_real_draw1": {"convnet": _entry([50.0, 52.0, 51.0])},
        "random_real_draw2": {"convnet": _entry([55.0, 54.0, 56.0])}})
    row = ipc_result(n_trials=2, best_val_acc=90.0, reeval=reeval, differences=differences(reeval),
                     best_config={"lr_img": 1.0}, default_config={"lr_img": 1.0},
                     config_notes={"default": ["matched segments: start epochs 0-9."]})
    report = study_result({"1": row}, method="pad", final_eval={"lr": 0.01}, method_notes=["a note on evaluation"],
                          expert_stage={"experts": 4, "trained": 4, "reused": 0, "dir": "/e", "seconds": 9.0,
                                        "flops": {"difficulty": 2e12, "training": 3e12}})
    md = render_markdown(report)
    assert fmt_acc(reeval["best"]["convnet"]) in md and "(n=3)" in md
    assert "random real (2 draws)" in md and "draw means 51.00, 55.00" in md
    assert "0.0321 (learned α)" in md and "_a note on evaluation_" in md
    assert "tuned − reference defaults (paired)" in md and "covers 0" in md
    assert "tuned − random real (welch)" in md
    assert "2.00 TFLOP difficulty scoring + 3.00 TFLOP expert training" in md
    assert "Default configuration: matched segments" in md


def test_the_ipc_header_names_the_best_proxy_score_and_the_chosen_sets_when_they_differ():
    from dd_tune.report.study_report import _proxy_line

    trials = [{"val_acc": 89.7, "error": None}, {"val_acc": 88.5, "error": None}, {"val_acc": None, "error": "x"}]
    assert _proxy_line(ipc_result(trials=trials, best_val_acc=89.7)) == "best proxy validation accuracy 89.70 %."
    line = _proxy_line(ipc_result(trials=trials, best_val_acc=88.5))
    assert "best proxy validation accuracy 89.70 %" in line and "the chosen set's 88.50 %" in line
    # re-distilled defaults have no proxy score of their own
    assert _proxy_line(ipc_result(trials=trials, best_val_acc=float("nan"))) == "best proxy validation accuracy 89.70 %."


@pytest.mark.parametrize("best, default, words", [
    ([90.0, 91.0, 90.5], [88.0, 89.5, 88.5], "on convnet the tuned configuration is better than DM's reference "
                                             "defaults by 1.83 points (paired 95 % interval ["),
    ([85.0, 86.0, 85.5], [88.0, 89.5, 88.5], "on convnet the tuned configuration is worse than DM's reference "
                                             "defaults by 3.17 points"),
    ([90.0, 88.0, 91.0], [89.0, 90.0, 88.5], "On convnet the test gives no evidence either way between the tuned "
                                             "configuration and DM's reference defaults (+0.50 ["),
    ([88.0, 89.5, 88.5], [88.0, 89.5, 88.5], "The search chose DM's reference defaults themselves (one choice, "
                                             "tested on convnet)"),
])
def test_the_ipc_section_opens_with_its_verdict_in_words(best, default, words):
    from dd_tune.report.study_report import verdict

    reeval = pool_random_real({"best": {"convnet": _entry(best)}, "default": {"convnet": _entry(default)},
                               "random_real_draw1": {"convnet": _entry([50.0, 52.0, 51.0])},
                               "random_real_draw2": {"convnet": _entry([55.0, 54.0, 56.0])}})
    text = verdict(ipc_result(reeval=reeval), "DM")
    assert text.startswith("**Verdict.** ") and words.lower() in text.lower(), text
    assert "Random real at the same IPC scores 53.00 % on convnet" in text


def test_accuracy_intervals_stay_inside_0_to_100():
    assert fmt_acc(_entry([1.0, 30.0])) == "15.50 ± 20.51 [0.00, 100.00] (clipped) (n=2)"
    assert "(clipped)" not in fmt_acc(_entry([90.0, 91.0, 90.5]))


def test_search_space_is_a_table_with_whole_numbers_for_ints():
    from dd_tune.records.provenance import search_space_from_json
    from dd_tune.report.tables import search_space_lines

    lines = search_space_lines(search_space_from_json({
        "iterations": {"type": "int", "low": 50.0, "high": 100.0, "step": 50.0},
        "lr_img": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
        "threshold": {"type": "categorical", "choices": [1.0, 1.1, None]},
        "dsa_strategy": {"type": "categorical", "choices": ["", "color_crop"]}}))
    assert lines[2:] == ["| iterations | int | 50 to 100, step 50 |", "| lr_img | float | 0.01 to 10 (log scale) |",
                         "| threshold | categorical | 1, 1.1, off |", '| dsa_strategy | categorical | "", color_crop |']


def test_reports_of_earlier_versions_are_read_with_the_draw_as_unit():
    old = {"runs": [50.0, 52.0, 51.0, 55.0, 54.0, 56.0], "n": 6, "draws": [[50.0, 52.0, 51.0], [55.0, 54.0, 56.0]]}
    new = SetAccuracy.from_dict(old)
    assert new.runs == [51.0, 55.0] and new.n == 2 and new.models == old["runs"]
    assert SetAccuracy.from_dict(dataclasses.asdict(new)) == new  # already in the new form
    plain = SetAccuracy.from_dict({"runs": [90.0, 91.0]})  # not random real; the summary is filled in
    assert plain.runs == [90.0, 91.0] and plain.mean == 90.5 and plain.n == 2 and not plain.draws


def test_tuned_row_is_paired_with_its_own_initial_images():
    reeval = {"best": {"convnet": _entry([90.0, 91.0, 90.5])},
              "best_start": {"convnet": _entry([85.0, 87.0, 86.0])}}
    d = {(x.a, x.b): x.difference for x in differences(reeval)}[("best", "best_start")]
    res = scipy_stats.ttest_rel([90.0, 91.0, 90.5], [85.0, 87.0, 86.0]).confidence_interval(0.95)
    assert d.kind == "paired" and d.diff == pytest.approx(4.5) and d.ci95 == pytest.approx([res.low, res.high])


@pytest.mark.parametrize("init_only, words", [
    ([85.0, 86.5, 85.0], "Its distillation steps added 5.00 points over the images it started from on convnet"),
    ([90.5, 90.0, 91.0], "Whether its distillation steps added anything to the images it started from cannot be "
                         "told on convnet"),
])
def test_the_verdict_says_what_distillation_added_to_its_initial_images(init_only, words):
    from dd_tune.report.study_report import verdict

    reeval = {"best": {"convnet": _entry([90.0, 91.0, 90.5])}, "default": {"convnet": _entry([88.0, 89.5, 88.5])},
              "best_start": {"convnet": _entry(init_only)}}
    assert words in verdict(ipc_result(reeval=reeval), "DM")


def test_a_smoke_report_says_it_is_not_a_result_before_any_number():
    from dd_tune.report.verdict import banner as _banner

    assert _banner(study_result(profile="smoke", protocol="..."))[0].startswith("> **Not a result.**")
    assert _banner(study_result(profile="quick", protocol="E=5; held-out sets capped at 500 images (a fixed shuffle): "
                                                          "not a result"))
    assert _banner(study_result(profile="quick", protocol="E=200, 3 models")) == []


def test_where_to_look_names_each_ipcs_optuna_study_and_the_closing_lines_say_one_model(capsys):
    from factories import acc, ipc_result, study_result

    from dd_tune.commands.common import print_reeval

    reeval = {"best": {"convnet": acc([90.0, 91.0])}, "default": {"convnet": acc([89.0, 90.0])}}
    rows = {str(i): ipc_result(ipc=i, reeval=reeval, differences=differences(reeval), best_config={"lr_img": 1.0},
                               default_config={"lr_img": 1.0}) for i in (1, 10)}
    report = study_result(rows, study="dm_mnist")
    md = render_markdown(report)
    assert "--study-name dm_mnist-ipc1`" in md and "--study-name dm_mnist-ipc10`" in md and "<IPC>" not in md
    assert "pip install -e '.[dashboard]'" in md and "is the best proxy score, not the confirmed choice" in md
    print_reeval({"1": ipc_result(reeval={"best": {"convnet": acc([91.0]), "lenet": acc([80.0, 82.0])}})})
    out = capsys.readouterr().out
    assert "convnet 91.00 (n=1)" in out and "lenet 81.00±1.41" in out and "±0.00" not in out
