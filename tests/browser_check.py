"""report.html from hostile names, opened in a real browser (headless Chromium): no script may run.

    make browser-check            # installs Debian's chromium if missing, then runs this
    python tests/browser_check.py [--chromium /usr/bin/chromium] [--keep DIR]

A study report is built from a result whose set names, study name and storage path carry the payloads a
hostile user would try (attribute breaks, backticks closing code spans, raw tags, ``javascript:`` links).
Each payload, if it ever ran, marks the page (``data-pwned`` on <body>); Chromium loads the page, runs
whatever scripts it holds, and dumps the DOM it ended with. Exit 0: nothing ran; 1: a payload ran.
Reports written before names were checked (and foreign report.json files re-rendered by ``--resume``)
are the reason the renderer, not only the config, must hold.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from factories import acc, ipc_result, study_result  # noqa: E402

MARK = "document.body.dataset.pwned=1"  # no parentheses: a markdown link target ends at the first ')'
PAYLOADS = [
    f'x" onerror="{MARK}',
    f"`a` <img src=x onerror=\"{MARK}\"> `b`",
    f"<script>{MARK}</script>",
    f"<svg onload=\"{MARK}\">",
    f"[click](javascript:{MARK})",
    f"![p](x\" onerror=\"{MARK}.png)",
    f"a`b\" onmouseover=\"{MARK}`c",
    f"a` ![q\" onerror=\"{MARK}](missing.png) `b",  # a backtick ends the name's code span; the alt text breaks out
]


def hostile_report(folder: Path) -> Path:
    """A study folder whose report.html carries every payload (in set names, the study name, its path)."""
    from dd_tune.report.study_report import write_report

    study_dir = folder / "study`x\"><img src=x onerror=\"" / "dm_mnist"
    study_dir.mkdir(parents=True)
    reeval = {"best": {"convnet": acc([90.0, 91.0])}, "default": {"convnet": acc([85.0, 86.0])},
              **{p: {"convnet": acc([50.0, 51.0])} for p in PAYLOADS}}
    row = ipc_result(reeval=reeval, best_png=str(study_dir / PAYLOADS[5]))
    write_report(study_result({"1": row}, study=PAYLOADS[0], study_dir=str(study_dir)), study_dir)
    return study_dir / "report.html"


def dom_after_load(page: Path, chromium: str) -> str:
    """The DOM Chromium ends with after loading ``page`` and running its scripts."""
    profile = tempfile.mkdtemp(prefix="dd_tune_chromium_")
    try:
        out = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if "<body" not in out.stdout:
        raise RuntimeError(f"chromium dumped no DOM (exit {out.returncode}): {out.stderr[-1000:]}")
    return out.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--keep", default=None, help="write the hostile study folder here (else a temporary one)")
    args = p.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dd_tune_browser_"))
    page = hostile_report(folder)
    dom = dom_after_load(page, args.chromium)
    ran = re.search(r"<body[^>]*data-pwned", dom) is not None
    tables = dom.count("<table")
    print(f"{page}: {len(PAYLOADS)} payloads in {tables} table(s), the title, the path; "
          f"{'A PAYLOAD RAN' if ran else 'no script ran'}")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if ran else 0


if __name__ == "__main__":
    sys.exit(main())
