"""The code base passes its linter (ruff: pyflakes, pycodestyle at 120 columns, import order) and its type checker
(mypy), both configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    r = subprocess.run([ruff, "check", "dd_tune", "tests", "bench"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def test_mypy_finds_nothing():
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is part of the test extra: pip install -e '.[test]'"
    r = subprocess.run([mypy], cwd=REPO, capture_output=True, text=True)  # files and options: pyproject.toml
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
