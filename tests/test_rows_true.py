"""Rows that say what ran (issue: every row true): the chosen-lr table's intervals stay within [0, 100]
and the grid it was chosen on is printed; the pooled tau is tau-b when rankings tie; a key the method
publishes no value for says so; dsa_strategy "" is explained where it is shown."""

from __future__ import annotations

import math

from factories import acc, ipc_result, study_result

from dd_tune.records.fidelity import kendall_tau, pooled_tau
from dd_tune.report.confirmation import clip_accuracy, lr_protocol_lines
from dd_tune.report.tables import config_lines, published_value, shown_value, trial_lines


def _lr_rows() -> dict:
    best = {**acc([99.0, 99.9]).__dict__, "lr": 0.01, "val": {"0.01": 97.5, "0.1": 96.0}}
    rr = {**acc([50.0, 52.0]).__dict__, "choices": [{"lr": 0.1, "val": {"0.01": 40.0, "0.1": 45.0}},
                                                     {"lr": 0.1, "val": {"0.01": 42.0, "0.1": 47.0}}]}
    return {"best": {"convnet": best}, "random_real": {"convnet": rr}}


def test_the_chosen_lr_table_keeps_intervals_in_range_and_prints_its_grid():
    assert clip_accuracy([98.2, 101.3]) == [98.2, 100.0] and clip_accuracy([-3.0, 4.0]) == [0.0, 4.0]
    assert clip_accuracy(None) is None
    text = "\n".join(lr_protocol_lines(ipc_result(lr_protocol=_lr_rows()), str))
    assert "100.00]" in text and "100.01" not in text and "101." not in text
    assert "| synthetic set | arch | lr 0.01 | lr 0.1 |" in text
    assert "| best | convnet | **97.50** | 96.00 |" in text
    assert "| random_real | convnet | 41.00 | **46.00** |" in text  # random real: over its draws


def test_the_pooled_tau_is_tau_b_when_a_ranking_ties():
    groups = [([1, 2, 2], [1, 3, 2]), ([1, 2], [1, 2])]
    pooled = pooled_tau(groups)
    one = kendall_tau([1, 2, 2, 11, 12], [1, 3, 2, 21, 22])  # same pairs, one ranking: no cross pairs differ
    c, d, tx = 3, 0, 1  # within-group pairs: (1,2) (1,2') (2,2') tied in x, and the second group's one
    assert math.isclose(pooled.tau, (c - d) / math.sqrt((c + d + tx) * (c + d)))
    assert pooled.tau < 1.0 and one.tau is not None
    assert pooled_tau([([1, 2, 3], [1, 2, 3])]).tau == 1.0  # no ties: (C - D) / (C + D) as before


def test_keys_without_a_published_value_and_the_datasets_dsa_strategy_say_so():
    row = ipc_result(best_config={"net_depth": 3, "dsa_strategy": "", "lr_img": 1.0},
                     default_config={"net_depth": 3, "dsa_strategy": "", "lr_img": 1.0})
    report = study_result({"1": row}, reference_defaults={"net_depth": 0, "dsa_strategy": "", "lr_img": 1.0})
    text = "\n".join(config_lines(row, report))
    assert "| net_depth | 3 | 3 | — (the study's network) |" in text
    assert "| dsa_strategy | \"\" (the dataset's DSA strategy) |" in text
    assert published_value("iterations", {}) == "—" and shown_value("lr_img", 0.5) == "0.5"
    trials = trial_lines(ipc_result(trials=[{"trial": "t00", "optuna": 0, "config": {"dsa_strategy": ""},
                                            "val_acc": 50.0, "it": 2, "error": None}]), {"dsa_strategy": {}})
    assert any("is the dataset's own DSA strategy" in line for line in trials)


def test_the_verdict_states_only_what_its_intervals_support_and_uses_the_matched_baseline():
    from dd_tune.report.verdict import verdict

    def row(best, default, **extra):
        reeval = {"best": {"convnet": acc(best), "lenet": acc(best)},
                  "default": {"convnet": acc(default), "lenet": acc(default)}, **extra}
        return ipc_result(reeval=reeval, best_config={"factor": 2})

    gain = verdict(row([90.0, 91.0, 90.5], [80.0, 81.0, 80.5]), "DM")
    assert "on convnet the tuned configuration is better" in gain.lower()
    loss = verdict(row([70.0, 71.0, 70.5], [80.0, 81.0, 80.5]), "DM")
    assert "is worse than DM's reference defaults by 10.00 points" in loss
    covers = verdict(row([90.0, 80.0, 85.0], [84.0, 86.0, 85.5]), "DM")
    assert "no evidence either way" in covers and "cannot be told" not in covers and "better" not in covers
    same = verdict(row([80.0, 81.0, 80.5], [80.0, 81.0, 80.5]), "DM")
    assert "The search chose DM's reference defaults themselves (one choice, tested on convnet and lenet)" in same
    assert same.count("reference defaults") == 1  # one choice, said once, not per architecture
    matched = verdict(row([90.0, 91.0, 90.5], [80.0, 81.0, 80.5],
                          random_real={"convnet": acc([50.0, 52.0])}, random_real_x2={"convnet": acc([70.0, 72.0])}),
                      "DM")
    assert "Random real decoded like the tuned set (×2: 4 real images tiled into each stored image) scores 71.00 %" \
        in matched and "plain random real, 51.00 %" in matched


def test_the_chosen_row_shows_the_budget_that_ran_and_counts_the_flops_of_its_network():
    import dataclasses

    from dd_tune.methods.configs import load_study
    from dd_tune.methods.flops import study_flops
    from dd_tune.tune.confirm import Candidate
    from dd_tune.tune.ipc_record import as_run, budget_run

    study = load_study("dm_mnist", "smoke")
    cfg = dataclasses.replace(study.distill, iterations=6)
    stopped = Candidate("t01", {}, 50.0, 2, None)
    full = Candidate("t02", {}, 50.0, 6, None)
    assert as_run(cfg, stopped).iterations == 2 and budget_run(cfg, stopped) == {"iterations_run": 2}
    assert as_run(cfg, full) is cfg and budget_run(cfg, full) == {}
    assert budget_run(cfg, Candidate("default", {}, None, -1, None, is_default=True)) == {}
    flops = study_flops(study, as_run(cfg, stopped), 1).distillation_best
    assert flops * 3 == study_flops(study, cfg, 1).distillation_best  # 2 of 6 iterations: a third
    wide = dataclasses.replace(cfg, net_width=256)  # the study's network is 128 wide
    assert study_flops(study, wide, 1).distillation_best > 2 * study_flops(study, cfg, 1).distillation_best
    row = ipc_result(best_config={"iterations": 6, "iterations_run": 2}, default_config={"iterations": 4})
    text = "\n".join(config_lines(row, study_result({"1": row}, reference_defaults={"iterations": 20000})))
    assert ("| iterations | 6: ran 2 of 6 iterations (stopped early by ASHA; its set is that of iteration 2) | 4 | "
            "20000 |") in text
    assert "iterations_run" not in text


def test_compare_results_and_tensorboard_say_when_the_chosen_trial_was_stopped_early(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dd_tune.report.catalog import render, summary_rows
    from dd_tune.report.rows import configuration_text, ran_text
    from dd_tune.search.board import write_test_board

    stopped = {"lr_img": 0.51234, "iterations": 6, "iterations_run": 2}
    assert configuration_text(stopped) == ("lr_img 0.5123, iterations 6 (ran 2 of 6 iterations (stopped early by "
                                           "ASHA; its set is that of iteration 2))")
    assert configuration_text({"lr_img": 1.0, "iterations": 6}) == "lr_img 1.0, iterations 6"
    assert ran_text(stopped) == "2 of 6, stopped early by ASHA" and ran_text({"iterations": 6}) == "6"
    assert ran_text({"ipc": 1}) == ""  # random real: no iterations
    # results: the column, and the protocol the numbers were measured with
    row = ipc_result(best_config=stopped)
    rows = summary_rows([study_result({"1": row}, protocol="protocol dc (the authors' evaluate_synset): ...")])
    assert rows[0]["tuned_iterations"] == "2 of 6, stopped early by ASHA" and rows[0]["protocol"] == "dc"
    assert "2 of 6, stopped early by ASHA" in render(rows, "text")
    assert summary_rows([study_result({"1": ipc_result()}, protocol="5 fresh models ...")])[0]["protocol"] == "dd_tune"
    # TensorBoard's Text tab of the test run
    write_test_board(tmp_path, 1, {"best": {"convnet": acc([91.0])}}, stopped, "protocol dd_tune: ...")
    events = EventAccumulator(str(tmp_path / "test"))
    events.Reload()
    texts = {tag: events.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in events.Tags()["tensors"]}
    assert "ran 2 of 6 iterations (stopped early by ASHA" in texts["chosen_configuration/text_summary"]
    assert texts["evaluation_protocol/text_summary"] == "protocol dd_tune: ..."


def test_every_row_says_how_many_images_its_evaluation_trains_on():
    import dataclasses

    from dd_tune.methods.configs import load_study
    from dd_tune.tune.finalists import row_titles

    study = load_study("dm_mnist_noise", "smoke")
    best = dataclasses.replace(study.distill, factor=2)
    sets = {"best": None, "default": None, "random_real_draw1": None, "random_real_x2_draw1": None,
            "best_start": None, "best_hard_lr0.01": None, "best_init_real": None,
            **{name: None for name in study.named_points}}
    titles = row_titles(study, best, 1, sets)
    assert titles["best"].endswith("trains on 4 images per class")
    assert titles["random_real"] == "trains on 1 image per class"
    assert titles["random_real_x2"].endswith("trains on 4 images per class")
    assert titles["best_init_real"] == titles["best_hard_lr0.01"] == "trains on 4 images per class"
    for name in study.named_points:
        assert titles[name].endswith("trains on 1 image per class"), (name, titles[name])
