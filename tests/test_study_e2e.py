"""End to end on real MNIST with a local Ray instance and the ``smoke`` profile."""

from __future__ import annotations

import json
import math

import pytest

from dd_tune.study import main


@pytest.mark.slow
def test_smoke_study_writes_a_complete_report(tmp_path, data_root, ray_session):
    storage = tmp_path / "runs"
    rc = main(["dm_mnist", "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root)])
    assert rc == 0
    study_dir = storage / "dm_mnist"
    report = json.loads((study_dir / "report.json").read_text())

    for key in ("study", "method", "dataset", "ipc", "search_space", "n_trials", "best_config",
                "default_config", "reeval", "flops", "wall_time_s"):
        assert key in report, key
    assert (report["study"], report["method"], report["dataset"], report["ipc"]) == ("dm_mnist", "dm", "mnist", 1)
    assert report["n_trials"] == 3
    # DM's own knobs and the design space around them
    assert set(report["search_space"]) == {"lr_img", "iterations", "batch_real", "init", "selection.embedding",
                                           "factor", "net_width", "net_depth", "net_norm", "net_pooling",
                                           "dsa_strategy", "momentum_img", "lr_schedule"}
    assert report["default_config"]["lr_img"] == 1.0 and report["default_config"]["init"] == "real"
    assert set(report["best_config"]) >= {"lr_img", "iterations", "batch_real", "init", "ipc"}
    for name in ("best", "default", "random_real"):
        n = 2  # 2 models (smoke); random real: 2 draws of 2 models, the draw is the unit
        for arch in ("convnet", "lenet"):
            entry = report["reeval"][name][arch]
            assert len(entry["runs"]) == n and entry["n"] == n and len(entry["ci95"]) == 2
            assert name != "random_real" or len(entry["models"]) == 4
            assert all(0.0 <= r <= 100.0 for r in entry["runs"])
            assert math.isclose(entry["mean"], sum(entry["runs"]) / n)
    # paired protocol: the same model seeds for every set, so runs differ only through the data
    assert report["reeval"]["best"]["convnet"]["runs"] != report["reeval"]["random_real"]["convnet"]["runs"]
    flops = report["flops"]
    assert 40e6 < flops["forward_per_image"]["convnet"] < 60e6  # ConvNet-3 on MNIST ~49 MFLOP
    assert flops["distillation_best"] > 0 and flops["evaluation_one_run"]["lenet"] > 0
    assert report["wall_time_s"] > 0
    # Ray's overhead: the same short trial in-process and as a one-trial Ray Tune experiment
    probe = report["overhead_probe"]
    assert probe["iterations"] == 4 and probe["ray_s"] > probe["in_process_s"] > 0, probe
    assert probe["ray_s"] > probe["ray_reused_s"] > 0, probe  # a reused actor starts no process
    assert (study_dir / "overhead_probe.json").exists() and (study_dir / "overhead_probe").is_dir()

    # best synthetic set, loadable, with an image grid
    from dd_tune.core.synset import SynSet

    best = SynSet.load(study_dir / "best" / "synset.pt")
    assert best.images.shape == (10, 1, 28, 28) and best.ipc == 1
    assert (study_dir / "best" / "synset.png").stat().st_size > 0

    # Optuna study in sqlite, with the default point first
    import optuna

    ostudy = optuna.load_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{study_dir / 'optuna.db'}")
    assert len(ostudy.trials) == 3
    assert ostudy.trials[0].params["lr_img"] == 1.0 and ostudy.trials[0].params["init"] == "real"

    # TensorBoard: one run per trial (scalars by the driver, images by the trial, both in the trial's
    # folder), plain tags against the distillation iteration, HParams; the test pass as its own run; no
    # run from the overhead probe
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trials = sorted(params.parent for params in (study_dir / "ipc1").glob("*/params.json"))
    # each trial's folder (TensorBoard's run) is named by its Optuna number and how it differs from the defaults
    assert [t.name.split("_")[0] for t in trials] == ["t00", "t01", "t02"] and trials[0].name == "t00_defaults"
    runs = sorted({f.parent.relative_to(study_dir).as_posix() for f in study_dir.rglob("events.out.tfevents.*")
                   if not f.parent.relative_to(study_dir).as_posix().startswith("board")})
    assert runs == ["ipc1/" + t.name for t in trials] + ["test"], runs
    acc = EventAccumulator(str(trials[0])).Reload()
    tags = acc.Tags()
    assert {"val_acc", "loss", "time/distill_s"} <= set(tags["scalars"]), tags["scalars"]
    assert not any(t.startswith("ray/") for t in tags["scalars"]) and "synset" in tags["images"]
    result_its = [json.loads(line)["it"] for line in (trials[0] / "result.json").read_text().splitlines()]
    assert [e.step for e in acc.Scalars("val_acc")] == result_its and result_its[-1] >= 2
    assert [e.step for e in acc.Images("synset")] == [0] + result_its  # the initial set, then every report
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")  # HParams at the trial's end
    texts = []
    for t in trials:
        run = EventAccumulator(str(t)).Reload()
        tag = next(x for x in run.Tags()["tensors"] if x.startswith("trial"))
        texts.append(run.Tensors(tag)[0].tensor_proto.string_val[0].decode())
    assert sum(x.startswith("reference defaults: ") for x in texts) == 1 and all("lr_img=" in x for x in texts)
    # Optuna names the same trials: every one records its folder's id, intermediate values at iterations
    ids = {json.loads(line)["trial_id"] for t in trials for line in (t / "result.json").read_text().splitlines()[:1]}
    assert {t.user_attrs["ray_trial_id"] for t in ostudy.trials} == ids
    assert {f"t{t.number:02d}" for t in ostudy.trials} == {t.name.split("_")[0] for t in trials}
    assert all(t.intermediate_values and set(t.intermediate_values) <= {2, 4, 6} for t in ostudy.trials)
    test = EventAccumulator(str(study_dir / "test")).Reload()
    assert {"test_acc/convnet/best", "test_acc/lenet/default", "test_acc/convnet/random_real"} <= set(
        test.Tags()["scalars"])
    assert test.Scalars("test_acc/convnet/best")[0].value == pytest.approx(report["reeval"]["best"]["convnet"]["mean"])
    # and what TensorBoard's page lists (its own server): each trial one run, with its images
    from tb_server import served

    page = served(study_dir, expect_runs=4)
    assert [r for r in page["runs"] if not r.startswith("board")] == ["ipc1/" + t.name for t in trials] + ["test"]
    assert all("val_acc" in page["scalars"][f"ipc1/{t.name}"] and page["images"][f"ipc1/{t.name}"] == ["synset"]
               for t in trials)
    # board/: the trials compared once the study chose, each run named by its number and roles
    board = served(study_dir / "board", expect_runs=5)
    named = [r for r in board["runs"] if r.startswith("ipc1/")]
    assert [r.split()[0] for r in named] == ["ipc1/t00", "ipc1/t01", "ipc1/t02"]
    assert named[0].startswith("ipc1/t00 defaults") and sum(" chosen" in r for r in named) == 1
    assert board["hparams"][0] == "00 role" and "test" in board["runs"]
    chosen_run = next(r for r in named if " chosen" in r)
    assert board["sessions"][chosen_run]["metrics"]["final/test_acc/convnet"] == pytest.approx(
        report["reeval"]["best"]["convnet"]["mean"])

    md = (study_dir / "report.md").read_text()
    chosen = next(line for line in md.splitlines() if line.startswith("| tuned: DM"))  # the chosen trial's row
    assert "; trains on 1 image per class |" in chosen and "tensorboard --logdir" in md
    assert md.startswith("# Study") and "> **Not a result.**" in md and "| t00 | " in md  # the defaults: Optuna's first
    page = (study_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "data:image/png;base64," in page
    assert (study_dir / "plots" / "ipc1" / "curves.png").exists() and "![accuracy vs iteration, IPC 1]" in md
    assert "| random real: trains on 1 image per class (2 draws) |" in md
    # the finalists confirmed on validation, the choice in words, the proxy's fidelity
    assert "**How the tuned set was chosen.**" in md and "confirmation val acc (%)" in md
    assert "Proxy fidelity: Kendall's tau proxy vs confirmation" in md
    assert "Ray's overhead on a trial, measured once on a short run (4 iterations" in md
    assert "| tuned − reference defaults (" in md and "| tuned − random real (welch) | " in md

    # a second run refuses to overwrite the finished study
    from dd_tune.base.errors import StudyStateError
    from dd_tune.methods.configs import load_study
    from dd_tune.tune.store import check_study_dir as _check_study_dir

    with pytest.raises(StudyStateError, match="already holds a finished study; pass --force"):
        _check_study_dir(study_dir, load_study("dm_mnist", "smoke"), force=False, resume=False)

    # the finished study, queried without re-running anything: the results command and the Python API
    import contextlib
    import io

    from dd_tune.commands.results import main as results
    from dd_tune.report.catalog import load_results, trials_frame

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert results([str(storage), "--format", "json"]) == 0
    (row,) = json.loads(out.getvalue())
    assert (row["study"], row["method"], row["ipc"], row["trials"]) == ("dm_mnist", "dm", 1, 3)
    assert row["tuned"]["mean"] == round(report["reeval"]["best"]["convnet"]["mean"], 2)
    assert row["random_real"]["n"] == 2 and row["path"] == str(study_dir)
    (loaded,) = load_results([study_dir])
    frame = trials_frame(loaded)
    assert len(frame) == 3 and {"trial", "config.lr_img", "val_acc", "iterations"} <= set(frame.columns)


@pytest.mark.slow
def test_datadam_smoke_study_reports_named_points(tmp_path, data_root, ray_session):
    storage = tmp_path / "runs"
    rc = main(["datadam_mnist", "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root)])
    assert rc == 0
    report = json.loads((storage / "datadam_mnist" / "report.json").read_text())
    assert report["method"] == "datadam" and report["n_trials"] == 3
    # the reference defaults are the released code's (what the authors ran)
    assert report["default_config"]["preset"] == "code" and report["default_config"]["power"] == 1
    # a best trial with multi-formation (factor f) brings its own baseline: f² random real images per slot
    factor = report["by_ipc"]["1"]["best_config"].get("factor", 1)
    baselines = {"random_real"} | ({f"random_real_x{factor}"} if factor > 1 else set())
    # best_start: the chosen trial's initial images
    assert set(report["reeval"]) == {"best", "default", "best_start", "seed_report_real", "seed_report_noise"} | baselines
    for name, accs in report["reeval"].items():
        runs = 2  # 2 models; random real: 2 draws of 2 models, the draw is the unit
        assert len(accs["convnet"]["runs"]) == runs and len(accs["lenet"]["runs"]) == runs, name
        assert name not in baselines or len(accs["convnet"]["models"]) == 4
        assert "ci95" in accs["convnet"] and accs["convnet"]["lr"] == 0.01
    assert len(report["reeval"]["random_real"]["convnet"]["draws"]) == 2
    assert {(d["a"], d["b"]) for d in report["by_ipc"]["1"]["differences"]} >= {
        ("best", "default"), ("best", "random_real"), ("seed_report_noise", "random_real")}
    assert any("batch-norm ConvNet" in n for n in report["method_notes"])
    named = report["by_ipc"]["1"]["named_configs"]
    assert named["seed_report_noise"]["init"] == "noise" and named["seed_report_noise"]["iterations"] == 2
    md = (storage / "datadam_mnist" / "report.md").read_text()
    assert "| named point `seed_report_noise`: " in md and "trains on 1 image per class" in md  # the row says what it trains on


@pytest.mark.slow
def test_pad_smoke_study_trains_experts_once_and_reports_hard_label_numbers(tmp_path, data_root, ray_session):
    storage = tmp_path / "runs"
    rc = main(["pad_mnist", "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root)])
    assert rc == 0
    report = json.loads((storage / "pad_mnist" / "report.json").read_text())
    # two schedule variants (init_ratio 0.5 / 0.75) x 2 experts, trained by the expert stage
    assert report["expert_stage"]["experts"] == 4 and report["expert_stage"]["trained"] == 4
    assert len(list((storage / "experts").glob("*.pt"))) >= 4
    assert "experts.schedule.init_ratio" in report["search_space"]
    assert {"best", "default", "random_real", "best_hard_lr0.01", "seed_report_noise"} <= set(report["reeval"])
    alpha = report["reeval"]["best"]["convnet"]["lr"]
    assert alpha != 0.01 and report["reeval"]["best_hard_lr0.01"]["convnet"]["lr"] == 0.01
    stage = report["expert_stage"]["flops"]
    assert stage["difficulty"] > 0 and stage["training"] > 0
    assert any("matched segments" in n for n in report["by_ipc"]["1"]["config_notes"]["default"])
    from dd_tune.core.synset import SynSet

    best = SynSet.load(storage / "pad_mnist" / "best" / "synset.pt")
    assert best.lr is not None and best.labels.shape == (10, 10)  # learned step size and soft labels

    # a later study with the same storage reuses every expert (no retraining)
    from dd_tune.methods.configs import load_study
    from dd_tune.search.space import load_search_space
    from dd_tune.tune.resources import Resources
    from dd_tune.tune.runner import StudyRunner

    study = load_study("pad_mnist", "smoke")
    runner = StudyRunner(study, load_search_space(study), storage / "again", data_root, Resources(1.0, 0.0))
    stage = runner.train_experts()
    assert stage is not None and (stage.experts, stage.trained, stage.reused) == (4, 0, 4)


@pytest.mark.slow
def test_searching_ipc_makes_a_two_objective_study_with_a_pareto_front(tmp_path, data_root, ray_session):
    storage = tmp_path / "runs"
    rc = main(["dm_mnist", "--profile", "smoke", "--storage", str(storage), "--data-root", str(data_root),
               "--set", "search.params.ipc={type: categorical, choices: [1, 2]}", "--num-samples", "3"])
    assert rc == 0
    study_dir = storage / "dm_mnist"
    report = json.loads((study_dir / "report.json").read_text())
    row = report["by_ipc"]["1"]
    assert "ipc" in report["search_space"]
    front = row["plots"]["pareto"]
    assert front and all(p["images"] == 10 * p["params"]["ipc"] for p in front)
    assert [p["images"] for p in front] == sorted(p["images"] for p in front)
    import optuna

    ostudy = optuna.load_study(study_name="dm_mnist-ipc1", storage=f"sqlite:///{study_dir / 'optuna.db'}")
    assert len(ostudy.directions) == 2 and len(ostudy.trials) == 3
    assert row["best_config"]["ipc"] in (1, 2)  # the most accurate point is re-evaluated
    rr = report["reeval"]["random_real"]["convnet"]
    assert len(rr["models"]) == 4 and len(rr["runs"]) == 2  # 2 draws x 2 models; the unit is the draw
    md = (study_dir / "report.md").read_text()
    assert "Pareto front (IPC searched" in md and (study_dir / "plots" / "ipc1" / "pareto.png").exists()
