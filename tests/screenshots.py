"""What a user sees, as pictures: TensorBoard's board (scalars, HParams, images, text) and report.html, taken
by a real headless browser (Debian's chromium) at a 1400 x 1000 window.

    make screenshots                          # a smoke study of dm_mnist, then the pictures, in ./screenshots
    python tests/screenshots.py --study runs/dm_mnist [--out DIR] [--chromium PATH]

Each picture is checked to be more than a blank page (enough distinct colours); exit 0 when every one
is, 1 otherwise. Look at them: the board's runs named by trial, role and the values that vary; the
HParams table's columns role first, then by importance, with the confirmation and test metrics; each
set as one row of classes; report.html opening on the verdict and the test table.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = {"scalars": "#timeseries", "hparams": "#hparams", "images": "#images", "text": "#text"}
WINDOW = "1400,1000"


def smoke_study(storage: Path) -> Path:
    """Run ``dm_mnist --profile smoke`` into ``storage``; its study directory."""
    subprocess.run([sys.executable, "-m", "dd_tune.study", "dm_mnist", "--profile", "smoke", "--storage",
                    str(storage)], cwd=REPO, check=True)
    return storage / "dm_mnist"


def shoot(chromium: str, url: str, out: Path) -> None:
    profile = tempfile.mkdtemp(prefix="dd_tune_chromium_")
    try:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WINDOW}",
                        "--virtual-time-budget=20000", f"--screenshot={out}", url],
                       capture_output=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def not_blank(picture: Path) -> bool:
    """A page that rendered: the file exists and holds more than a handful of colours."""
    from PIL import Image

    if not picture.is_file():
        return False
    with Image.open(picture) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > 20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", type=Path, help="a finished study's directory (default: run a smoke study)")
    p.add_argument("--out", type=Path, default=REPO / "screenshots")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = p.parse_args(argv)
    study = args.study or smoke_study(Path(tempfile.mkdtemp(prefix="dd_tune_screens_")))
    args.out.mkdir(parents=True, exist_ok=True)
    from tensorboard import program

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = program.TensorBoard()
    board.configure(logdir=str(study / "board"), host="127.0.0.1", port=port, reload_interval=1, load_fast="false")
    url = board.launch()
    time.sleep(5)  # the first load of the runs
    pictures = []
    for name, fragment in PAGES.items():
        pictures.append(args.out / f"tensorboard_{name}.png")
        shoot(args.chromium, url + fragment, pictures[-1])
    pictures.append(args.out / "report_html.png")
    shoot(args.chromium, (study / "report.html").resolve().as_uri(), pictures[-1])
    bad = [p for p in pictures if not not_blank(p)]
    for picture in pictures:
        print(f"{picture}: {'BLANK' if picture in bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
