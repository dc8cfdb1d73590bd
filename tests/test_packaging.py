"""dd_tune installs like a library: ``pip install .`` (not editable) ships every package and the studies,
suites and search spaces; a study file runs by its path; ``dd-tune`` dispatches the commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "dd_tune").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def _run(args: list[str], cwd: Path, pythonpath: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    env.pop("DD_TUNE_STUDIES", None)
    env.pop("DD_TUNE_SEARCH_SPACES", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_a_built_wheel_finds_its_studies_and_runs_a_study_file_by_path(tmp_path):
    wheel_dir, target, work = tmp_path / "wheel", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(wheel_dir), str(REPO)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next(wheel_dir.glob("dd_tune-*.whl"))
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert (target / "dd_tune" / "studies" / "dm_mnist.yaml").exists()
    assert (target / "dd_tune" / "studies" / "suites" / "mnist.yaml").exists()
    assert (target / "dd_tune" / "search_spaces" / "pad.yaml").exists()

    r = _run(["dd_tune.study", "--list"], work, str(target))
    assert r.returncode == 0 and "dm_mnist" in r.stdout and "pad_mnist" in r.stdout, r.stderr
    r = _run(["dd_tune", "compare", "--list"], work, str(target))
    assert r.returncode == 0 and "mnist" in r.stdout, r.stderr
    shutil.copy(REPO / "studies" / "dm_mnist.yaml", work / "my_study.yaml")
    r = _run(["dd_tune.study", "./my_study.yaml", "--profile", "smoke", "--print-config"], work, str(target))
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert cfg["name"] == "my_study" and cfg["search_space"]["lr_img"]["high"] == 10.0
    r = _run(["dd_tune.study", "nope"], work, str(target))
    assert r.returncode == 2 and "choose from ['datadam_cifar10', 'datadam_cifar100', 'datadam_fashionmnist'" in r.stderr


def test_dd_tune_dispatches_the_commands():
    r = subprocess.run([sys.executable, "-m", "dd_tune", "evaluate", "--help"], capture_output=True, text=True,
                       cwd=REPO, timeout=120)
    assert r.returncode == 0 and "usage: dd-tune evaluate" in r.stdout
    r = subprocess.run([sys.executable, "-m", "dd_tune", "train"], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: dd-tune: unknown command 'train'; choose from ['study', 'compare',")
