"""Bad input: one clear message, a non-zero exit, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=300)


def test_list_shows_studies():
    r = run("dd_tune.study", "--list")
    assert r.returncode == 0 and "dm_mnist" in r.stdout and "Distribution Matching" in r.stdout


def test_help_mentions_the_options():
    r = run("dd_tune.study", "--help")
    for opt in ("--profile", "--storage", "--num-samples", "--seed", "--data-root", "--set", "--list",
                "--address", "--resume", "--force"):
        assert opt in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "error: unknown study 'nope'; choose from ["),
        (["dm_mnist", "--set", "distill.lrimg=1"], "unknown key 'distill.lrimg' (did you mean 'distill.lr_img'?); valid keys:"),
        (["dm_mnist", "--set", "distill.lr_img=-0.5"], "'distill.lr_img' must be > 0"),
        (["dm_mnist", "--set", "ipc=[0]"], "'ipc' images per class must be >= 1"),
        (["dm_mnist", "--profile", "huge"], "unknown profile 'huge'"),
        (["dm_mnist", "--data-root", "/nonexistent/dd"], "data root /nonexistent/dd (--data-root) does not exist"),
        (["dm_mnist", "--profile", "smoke", "--resume"], "--resume: there is no study at"),
        (["dm_mnist", "--address", "auto", "--num-cpus", "2"], "cannot be combined with --address"),
    ],
)
def test_bad_input_fails_early_with_one_message(tmp_path, args, message):
    r = run("dd_tune.study", *args, "--storage", str(tmp_path / "runs"))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


PROBE = ("import sys, time; t0 = time.time(); from dd_tune.commands.study import main; rc = main(sys.argv[1:]); "
         "print(rc, round(time.time() - t0, 2), any(m in sys.modules for m in ('ray.tune', 'optuna')))")


@pytest.mark.parametrize("args", [["dm_mnistt"], ["dm_mnist", "--set", "search.num_sample=3"],
                                  ["dm_mnist", "--profile", "quik"], ["dm_mnist", "--data-root", "/nonexistent/dd"],
                                  ["dm_mnist", "--profile", "smoke", "--resume"]])
def test_bad_arguments_are_refused_before_ray_tune_and_optuna_are_imported(tmp_path, args):
    t0 = time.time()
    r = subprocess.run([sys.executable, "-c", PROBE, *args, "--storage", str(tmp_path / "runs")],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    wall = time.time() - t0
    rc, _, imported = r.stdout.split()
    assert rc == "2" and r.stderr.startswith("error: ") and imported == "False", r.stdout + r.stderr
    assert wall < 3.0, f"{wall:.1f} s"  # the whole process, from its start: torch's import included


def test_malformed_fault_hook_fails_before_anything_is_written(tmp_path):
    r = run("dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage", str(tmp_path / "runs"),
            env={"DD_TUNE_FAULT_AFTER_REPORTS": "x"})
    assert r.returncode == 2 and "bad rule 'x'; expected N[:key=value][:always]" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_explicit_gpu_without_gpu_fails_fast(tmp_path, data_root):
    r = run("dd_tune.study", "dm_mnist", "--profile", "smoke", "--set", "resources.gpu=1",
            "--storage", str(tmp_path / "runs"), "--data-root", str(data_root), "--num-cpus", "1")
    assert r.returncode == 2
    assert "requests gpu: 1.0 per trial but no GPU is visible" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_evaluate_cli_rejects_a_missing_synset(tmp_path):
    r = run("dd_tune.evaluate", str(tmp_path / "missing.pt"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_object_store_uri_is_refused_as_storage(data_root):
    r = run("dd_tune.study", "dm_mnist", "--storage", "s3://bucket/runs", "--data-root", str(data_root))
    assert r.returncode == 2 and "needs a POSIX path" in r.stderr and "Traceback" not in r.stderr


def test_resume_and_force_are_exclusive(tmp_path):
    r = run("dd_tune.study", "dm_mnist", "--resume", "--force", "--storage", str(tmp_path))
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


@pytest.mark.parametrize("stored, flags, message", [
    (None, [], "holds an unfinished study; pass --resume to continue it, --force"),
    ({"seed": 12345}, ["--resume"], "holds a different study (changed: "),
    # profiles of one study never share a folder, finished or not, and the way out is named
    ({"profile": "quick"}, [], "holds this study's 'quick' profile; this run is the 'smoke' profile. Give it a "
                               "folder of its own (e.g. --storage "),
    ({"profile": "quick"}, ["--resume"], "holds this study's 'quick' profile"),
])
def test_unfinished_or_different_study_is_refused(tmp_path, data_root, stored, flags, message):
    from dd_tune.tune.store import create

    study_dir = tmp_path / "runs" / "dm_mnist"
    create(study_dir, "study")
    if stored is not None:  # the smoke study as stored by an earlier run, with the changed keys
        import json

        from dd_tune.config.schema import to_dict
        from dd_tune.methods.configs import load_study

        record = {**json.loads(json.dumps(to_dict(load_study("dm_mnist", "smoke")))), **stored}
        (study_dir / "study.json").write_text(json.dumps(record))
    r = run("dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage", str(tmp_path / "runs"),
            "--data-root", str(data_root), *flags)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert sorted(p.name for p in study_dir.iterdir()) == [".dd_tune_study", *(["study.json"] if stored else [])]


def test_existing_study_is_not_overwritten_without_force(tmp_path, data_root):
    from dd_tune.tune.store import create

    study_dir = tmp_path / "runs" / "dm_mnist"
    create(study_dir, "study")
    (study_dir / "report.json").write_text("{}")
    r = run("dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage", str(tmp_path / "runs"),
            "--data-root", str(data_root))
    assert r.returncode == 2
    assert "already holds a finished study; pass --force" in r.stderr
    assert (study_dir / "report.json").read_text() == "{}"


def test_distill_then_evaluate_round_trip(tmp_path, data_root):
    out = tmp_path / "dm.pt"
    r = run("dd_tune.distill", "dm_mnist", "--profile", "smoke", "--set", "distill.iterations=3",
            "--out", str(out), "--data-root", str(data_root), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert out.exists() and out.with_suffix(".png").exists()
    report = tmp_path / "eval.json"
    r = run("dd_tune.evaluate", str(out), "--models", "lenet", "--runs", "2", "--epochs", "2",
            "--data-root", str(data_root), "--device", "cpu", "--json", str(report))
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(report.read_text())["lenet"]
    assert len(result["runs"]) == 2 and 0 <= result["mean"] <= 100
    assert "lenet:" in r.stdout and "over 2 models" in r.stdout


def test_distill_also_writes_the_shorter_budgets_of_one_run(tmp_path, data_root):
    """--also-at: one DM run, its set after 0 and 2 iterations as well; refused where the run depends on its
    budget (a cosine schedule) or N is outside it."""
    import torch

    from dd_tune.core.synset import SynSet

    common = ["dm_mnist", "--profile", "smoke", "--data-root", str(data_root), "--device", "cpu"]
    r = run("dd_tune.distill", *common, "--set", "distill.iterations=3", "--also-at", "2", "0",
            "--out", str(tmp_path / "dm.pt"))
    assert r.returncode == 0, r.stderr
    sets = {n: SynSet.load(tmp_path / f"dm{n}.pt") for n in ("_it0", "_it2", "")}
    assert [s.meta["iteration"] for s in sets.values()] == [0, 2, 3]
    assert (tmp_path / "dm_it2.png").exists() and sets["_it2"].meta["config"]["iterations"] == 2
    alone = tmp_path / "alone.pt"
    assert run("dd_tune.distill", *common, "--set", "distill.iterations=2", "--out", str(alone)).returncode == 0
    assert torch.equal(SynSet.load(alone).images, sets["_it2"].images)
    r = run("dd_tune.distill", *common, "--set", "distill.iterations=3", "--set", "distill.lr_schedule=cosine",
            "--also-at", "1", "--out", str(tmp_path / "c.pt"))
    assert r.returncode == 2 and "depends on its budget" in r.stderr and not (tmp_path / "c_it1.pt").exists()
    r = run("dd_tune.distill", *common, "--set", "distill.iterations=3", "--also-at", "3", "--out", str(tmp_path / "d.pt"))
    assert r.returncode == 2 and "--also-at [3]: each must be in [0, 3)" in r.stderr


def test_print_config_shows_the_resolved_study_and_writes_nothing(tmp_path):
    import yaml

    r = run("dd_tune.study", "pad_mnist", "--set", "distill.preset=mtt", "--set", "distill.syn_steps=20",
            "--print-config", "--storage", str(tmp_path / "runs"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    d = cfg["distill"]
    # the preset replaced the study's PAD values, the study's budget stayed, the explicit key won
    assert (d["preset"], d["soft_labels"], d["init"], d["select_ratio"], d["threshold"]) == ("mtt", False, "real", 0.0, None)
    assert (d["syn_steps"], d["iterations"], d["experts"]["num_experts"], d["experts"]["epochs"]) == (20, 5000, 20, 50)
    assert cfg["profile"] == "default" and "search_space" in cfg and "max_start_epoch" in cfg["search_space"]
    assert list(tmp_path.iterdir()) == []  # no storage, no Ray session files


def test_compare_print_config_lists_every_study(tmp_path):
    import yaml

    r = run("dd_tune.compare", "mnist", "--profile", "quick", "--print-config", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert docs[0]["suite"]["name"] == "mnist" and [d["name"] for d in docs[1:]] == ["dm_mnist", "datadam_mnist", "pad_mnist"]
    assert all(d["final_eval"]["random_real_draws"] == 3 for d in docs[1:])
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_study_stored_before_a_key_existed_takes_its_default(tmp_path):
    """A study.json written by an older dd_tune lacks keys added since (search.overhead_probe): they take
    their defaults, so the same study resumes; setting such a key to another value is still a change."""
    import dataclasses
    import json

    from dd_tune.config.schema import to_dict
    from dd_tune.methods.configs import load_study
    from dd_tune.tune.store import stored_config_diff

    study = load_study("dm_mnist", "smoke")
    record = json.loads(json.dumps(to_dict(study)))
    del record["search"]["overhead_probe"]
    (tmp_path / "study.json").write_text(json.dumps(record))
    assert stored_config_diff(tmp_path, study) == []
    probe_flipped = dataclasses.replace(study.search, overhead_probe=not study.search.overhead_probe)
    assert stored_config_diff(tmp_path, dataclasses.replace(study, search=probe_flipped)) == ["search"]
    assert stored_config_diff(tmp_path, dataclasses.replace(study, seed=study.seed + 1)) == ["seed"]


def _shipped(method: str) -> list[str]:
    from dd_tune.config import list_studies
    from dd_tune.methods.configs import load_study

    return [n for n in list_studies() if load_study(n).method == method]


@pytest.mark.parametrize("name", _shipped("pad") + _shipped("datadam"))
def test_a_preset_switch_works_from_the_command_line_on_every_shipped_study_and_profile(name, capsys):
    """`--set distill.preset=…` on every PAD/DataDAM study and profile: --print-config exits 0, the space has
    grown to hold the new defaults, and the whole search builds (the dry run a real run does first)."""
    import yaml

    from dd_tune.config import study_profiles
    from dd_tune.methods.configs import load_study
    from dd_tune.search.space import load_search_space
    from dd_tune.search.tuner import check_search
    from dd_tune.study import main

    method = load_study(name).method
    for profile in study_profiles(name):
        for preset in ("pad", "datm", "mtt") if method == "pad" else ("code", "paper"):
            extra: list[str] = []
            if (name, profile, preset) == ("pad_cifar100", "default", "mtt"):
                # MTT's 50-epoch experts cannot hold PAD's CIFAR-100 window (start epochs up to 50): the switch
                # is refused with that reason, and runs with MTT's own window (its CIFAR-100 IPC-10 command: 20)
                assert main([name, "--set", "distill.preset=mtt", "--print-config"]) == 2
                assert "'distill.max_start_epoch' + expert_epochs (50 + 2) exceeds" in capsys.readouterr().err
                extra = ["--set", "distill.max_start_epoch=20"]
            rc = main([name, "--profile", profile, "--set", f"distill.preset={preset}", *extra, "--print-config"])
            out, err = capsys.readouterr()
            assert rc == 0, f"{name} {profile} {preset}: {err}"
            cfg = yaml.safe_load(out)
            assert cfg["distill"]["preset"] == preset
            study = load_study(name, profile, [("distill.preset", preset), *(
                [("distill.max_start_epoch", 20)] if extra else [])])
            check_search(study, load_search_space(study))


def test_datm_keeps_the_mnist_halving_and_mtt_joins_the_space(capsys):
    import yaml

    from dd_tune.study import main

    assert main(["pad_mnist", "--set", "distill.preset=datm", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    d = cfg["distill"]
    # DATM's identity (no scheduler, no parameter selection, minibatches of 100) with the study's 50-epoch
    # experts, halved schedule and window kept (a switch used to restore PAD's 100-epoch values)
    assert (d["select_ratio"], d["batch_syn"], d["experts"]["schedule"]["enabled"]) == (0.0, 100, False)
    assert (d["experts"]["epochs"], d["current_max_start_epoch"], d["max_start_epoch"]) == (50, 5, 10)
    assert d["experts"]["schedule"]["add_end_epoch"] == 10 and cfg["search"]["widen_to_defaults"] is True
    assert main(["pad_mnist", "--set", "distill.preset=mtt", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["distill"]["syn_steps"] == 30 and 30 in cfg["search_space"]["syn_steps"]["choices"]
    # without a switch the study's space is its own: a default outside it stays an error
    assert main(["pad_mnist", "--set", "distill.syn_steps=30", "--print-config"]) == 2
    assert "lies outside the search space" in capsys.readouterr().err


def test_the_commands_work_from_the_folder_above_a_clone_named_dd_tune(tmp_path):
    """`git clone ... dd_tune && python -m dd_tune.study` from the folder above: that folder (no __init__.py)
    must not shadow the package. make setup puts the checkout on sys.path as a plain path entry
    (dd_tune_checkout.pth), which Python prefers to a namespace package."""
    (tmp_path / "dd_tune").symlink_to(REPO)
    r = run("dd_tune.study", "--list", cwd=tmp_path)
    assert r.returncode == 0 and "dm_mnist" in r.stdout, \
        r.stderr[-2000:] + "\n(set up with `make setup`: it writes the venv's dd_tune_checkout.pth)"
