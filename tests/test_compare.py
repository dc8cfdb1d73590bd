"""The comparison suite: loading/validation (fast) and a smoke run of DM, DataDAM and PAD (slow)."""

from __future__ import annotations

import json

import pytest
from factories import acc

from dd_tune.base.errors import ConfigError
from dd_tune.compare import main
from dd_tune.config import load_suite
from dd_tune.tune.suite import suite_studies


def test_suite_applies_the_shared_protocol_to_every_study():
    suite = load_suite("mnist", "quick")
    studies = suite_studies(suite)
    assert [s.method for s in studies] == ["dm", "datadam", "pad"]
    for s in studies:
        assert s.ipc == (1,) and s.search.num_samples == 32 and s.seed == 0
        assert (s.final_eval.epochs, s.final_eval.models) == (200, 3)
        assert (s.proxy_eval.epochs, s.proxy_eval.models) == (50, 1) and s.search.confirm.models == 2
        assert s.final_eval.archs == ("convnet", "lenet")
        # quick: the init is searched, so no init variants; the named points are the seed_report suite's
        assert s.named_points == {} and s.init_variants == ()
    # the default profile keeps the init variants
    assert all(s.init_variants == ("real", "noise") for s in suite_studies(load_suite("mnist")))


def test_unknown_suite_and_profile_name_the_choices():
    with pytest.raises(ConfigError, match=r"unknown suite 'nope'; choose from \['cifar10', 'fashionmnist', 'mnist'"):
        load_suite("nope")
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        load_suite("mnist", "huge")


def test_studies_that_disagree_on_the_protocol_are_refused(tmp_path):
    (tmp_path / "s.yaml").write_text("studies: [dm_mnist, dm_fashionmnist]\n")
    with pytest.raises(ConfigError, match="differ in 'dataset'"):
        suite_studies(load_suite(str(tmp_path / "s.yaml")))


@pytest.mark.slow
def test_smoke_comparison_of_dm_datadam_and_pad(tmp_path, data_root, ray_session):
    storage = tmp_path / "runs"
    assert main(["mnist", "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root)]) == 0
    data = json.loads((storage / "mnist" / "compare.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert set(rows) == {"dm", "datadam", "pad"}
    for method, r in rows.items():
        assert r["ipc"] == 1 and r["n_trials"] == 2
        for name in ("best", "default", "random_real", "best_init_real", "best_init_noise"):
            for arch in ("convnet", "lenet"):
                assert r["accuracy"][name][arch] is not None, (method, name, arch)
        assert r["cpu_seconds"] > 0 and r["gpu_seconds"] == 0 and r["flops_tuned"] > 0
    assert rows["pad"]["expert_seconds"] > 0  # PAD's expert stage is part of its cost
    md = (storage / "mnist" / "compare.md").read_text()
    assert "| dm |" in md and "| datadam |" in md and "| pad |" in md and "tuned, init noise" in md
    assert (storage / "mnist" / "experts").is_dir() and (storage / "mnist" / "pad_mnist" / "report.md").exists()
    # DM and DataDAM draw the same random-real set: the second study reads its re-evaluation from the cache
    assert rows["dm"]["accuracy"]["random_real"] == rows["datadam"]["accuracy"]["random_real"]
    assert any((storage / "mnist" / "reeval").glob("*.json"))


def test_random_real_is_one_line_when_shared_and_per_method_otherwise():
    from dd_tune.report.comparison import _random_real_lines

    def row(method, mean):
        entry = acc([mean - 0.5, mean + 0.5])
        return {"method": method, "accuracy": {"random_real": {"convnet": entry, "lenet": entry}}}

    cell = "48.00 ± 0.71 [41.65, 54.35]"
    assert _random_real_lines([row("dm", 48.0), row("datadam", 48.0)], 1) == [
        f"Random real at IPC 1: ConvNet {cell}, LeNet {cell}."]
    lines = _random_real_lines([row("dm", 48.0), row("pad", 54.0)], 1)
    assert lines[0].startswith("Random real at IPC 1, drawn from each study's training set")
    assert "- pad: ConvNet 54.00 ± 0.71 [47.65, 60.35], LeNet 54.00 ± 0.71 [47.65, 60.35]" in lines


def test_comparison_states_differences_with_intervals():
    from dd_tune.config import SuiteConfig
    from dd_tune.report.comparison import comparison_differences, render_comparison

    def entry(runs):
        return acc(runs)

    def row(method, best, default, rr):
        return {"method": method, "ipc": 1, "n_trials": 3, "n_failed": 0, "wall_time_s": 1.0, "expert_seconds": 0.0,
                "cpu_seconds": 1.0, "gpu_seconds": 0.0, "flops_default": 1e9, "flops_tuned": 1e9,
                "best_config": {}, "report": "r.md", "step_size": None, "expert_flops": {},
                "accuracy": {"best": {"convnet": entry(best), "lenet": entry(best)},
                             "default": {"convnet": entry(default), "lenet": entry(default)},
                             "random_real": {"convnet": entry(rr), "lenet": entry(rr)}}}

    rows = [row("dm", [90.0, 91.0, 90.5], [89.0, 89.5, 89.6], [50.0, 52.0, 49.0, 51.0]),
            row("pad", [85.0, 86.0, 85.2], [85.1, 86.2, 85.0], [50.0, 52.0, 49.0, 51.0])]
    diffs = comparison_differences(rows)
    names = {(d.a, d.b, d.arch): d.difference for d in diffs}
    assert names[("dm tuned", "dm reference defaults", "convnet")].kind == "paired"
    assert names[("dm tuned", "dm random real", "lenet")].kind == "welch"
    cross = names[("dm tuned", "pad tuned", "convnet")]
    assert cross.kind == "paired" and cross.diff == pytest.approx(5.1)
    pad_gain = names[("pad tuned", "pad reference defaults", "convnet")]
    assert pad_gain.covers_zero is True
    md = render_comparison(SuiteConfig(name="s", studies=("a",)), rows, 1.0, diffs)
    assert "| dm tuned − pad tuned | +5.10 [" in md and "covers 0" in md


def test_two_studies_that_resolve_to_one_name_are_refused(tmp_path):
    # one directory and one Optuna study for two methods: the second would overwrite the first
    (tmp_path / "s.yaml").write_text("studies: [dm_mnist, datadam_mnist]\nshared: {name: same}\n")
    with pytest.raises(ConfigError, match=r"'dm_mnist' and 'datadam_mnist' both resolve to the study name 'same'"):
        suite_studies(load_suite(str(tmp_path / "s.yaml")))
    (tmp_path / "dm_mnist.yaml").write_text("extends: dm_mnist\n")
    (tmp_path / "t.yaml").write_text(f"studies: [dm_mnist, {tmp_path / 'dm_mnist.yaml'}]\n")
    with pytest.raises(ConfigError, match="both resolve to the study name 'dm_mnist'"):
        suite_studies(load_suite(str(tmp_path / "t.yaml")))


def test_a_suite_can_give_one_study_more_trials(tmp_path):
    from dd_tune.base.errors import ConfigError
    from dd_tune.config import load_suite
    from dd_tune.tune.suite import suite_studies

    trials = {s.name: s.search.num_samples for s in suite_studies(load_suite("seed_report", "quick"))}
    assert trials.pop("pad_mnist_noise") == 16 and set(trials.values()) == {3}
    bad = tmp_path / "s.yaml"
    bad.write_text("studies: [dm_mnist]\nstudy_num_samples: {pad_mnist: 4}\n")
    with pytest.raises(ConfigError, match="names study 'pad_mnist', which the suite does not run"):
        load_suite(str(bad))


def test_the_noise_only_pad_search_can_find_a_middle_ground():
    """At least 16 trials at IPC 10 in the quick profile; threshold 1.0 / 1.1 / off, the three label sources,
    alpha_0 down to 1e-4 with lr_lr at most 1e-5, lr_img over [10, 1e4]."""
    from dd_tune.methods.configs import load_study
    from dd_tune.search.space import load_search_space

    study = load_study("pad_mnist_noise", "quick")
    space = load_search_space(study)
    assert study.ipc == (10,) and study.search.num_samples >= 16 and study.distill.init == "noise"
    assert space["threshold"].choices == (1.0, 1.1, None)
    assert set(space["noise_labels"].choices) == {"real_logits", "self_logits", "hard"}
    assert min(space["syn_lr_init"].choices) == 0.0001 and space["lr_lr"].high <= 1e-5
    assert (space["lr_img"].low, space["lr_img"].high) == (10.0, 10000.0) and 0.0 in space["select_ratio"].choices
    assert study.named_points["noise_hard_no_threshold"]["noise_labels"] == "hard"


@pytest.mark.parametrize("profile", ["default", "quick", "smoke", "report"])
def test_every_shipped_suite_and_study_builds_its_whole_search(profile):
    """The dry run a real run does first (Optuna space, seeded sampler, ASHA): a suite's shared keys must
    not give any study an impossible search (e.g. an ASHA grace period beyond its longest trial)."""
    from dd_tune.config import list_studies, list_suites, load_suite, study_profiles, suite_profiles
    from dd_tune.methods.configs import load_study
    from dd_tune.search.space import load_search_space
    from dd_tune.search.tuner import check_search
    from dd_tune.tune.suite import suite_studies

    # each suite and study at this profile where it offers it (the CIFAR studies have no CPU profile)
    studies = [s for name in list_suites() if profile in suite_profiles(name)
               for s in suite_studies(load_suite(name, profile))]
    studies += [load_study(name, profile) for name in list_studies() if profile in study_profiles(name)]
    assert studies
    for study in studies:
        check_search(study, load_search_space(study))


def test_the_comparison_opens_with_one_sentence_on_whether_tuning_beat_the_defaults():
    from dd_tune.report.comparison import verdict_line

    def row(method, best, default):
        return {"method": method, "ipc": 1, "accuracy": {"best": {"convnet": acc(best)},
                                                         "default": {"convnet": acc(default)}}}

    line = verdict_line([row("dm", [93.0, 93.2, 92.9], [87.7, 87.9, 87.8]),
                         row("datadam", [90.0, 91.0, 89.0], [90.5, 89.5, 90.2]),
                         row("pad", [80.0, 80.1, 80.2], [80.0, 80.1, 80.2])])
    assert line.startswith("**Verdict.** Tuning beat the reference defaults clearly")
    assert "for dm at IPC 1 (+5.23 [" in line
    assert "gave no evidence either way (interval covering 0) for datadam at IPC 1 (-0.07 [" in line
    assert "pad at IPC 1 (the defaults won the search)" in line and "worse" not in line
    assert "did clearly worse than the defaults for dm" in verdict_line([row("dm", [80.0, 80.2, 80.1],
                                                                                 [90.0, 90.1, 90.3])])


def test_compare_md_says_what_a_profile_left_out_and_that_smoke_is_not_a_result():
    import dataclasses

    from factories import study_result

    from dd_tune.report.comparison import scope_lines

    suite = load_suite("mnist", "quick")
    assert scope_lines(suite, [study_result(profile="quick", protocol="3 fresh models")]) == []
    partial = dataclasses.replace(suite, studies=("dm_mnist",), not_run=("datadam_mnist", "pad_mnist"))
    lines = scope_lines(partial, [study_result(profile="smoke")])
    assert "ran `dm_mnist` only; `datadam_mnist`, `pad_mnist` of the suite were left out" in lines[0]
    assert lines[1].startswith("> Not a result: smoke budgets")


def test_compare_md_sets_a_multi_formation_set_against_random_real_decoded_like_it():
    from dd_tune.report.comparison import comparison_differences, matched_random_real
    from dd_tune.report.rows import set_title

    rows = [{"study": "dm_mnist", "method": "dm", "label": "dm", "ipc": 1, "best_config": {"factor": 2},
             "accuracy": {"best": {"convnet": acc([90.0, 91.0])}, "default": {"convnet": acc([80.0, 81.0])},
                          "random_real": {"convnet": acc([50.0, 52.0])},
                          "random_real_x2": {"convnet": acc([70.0, 72.0])}}}]
    assert matched_random_real(rows[0]) == "random_real_x2"
    pairs = {(d.a, d.b) for d in comparison_differences(rows)}
    assert ("dm tuned", "dm random real, multi-formation ×2") in {(a.replace(set_title("best"), "tuned"), b)
                                                                  for a, b in pairs}, pairs
    assert not any(b.endswith("random real") for _, b in pairs), pairs
    rows[0]["best_config"] = {"factor": 1}
    assert matched_random_real(rows[0]) == "random_real"
