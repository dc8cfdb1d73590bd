"""MHIST: the ConvNet-7 study on generated data in MHIST's exact on-disk layout (images/ + annotations.csv
with the official columns and partition), balanced accuracy and the majority-class baseline in its report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dd_tune.core.splits import load_data
from dd_tune.methods.configs import load_study

COLUMNS = ["Image Name", "Majority Vote Label", "Number of Annotators who Selected SSA (Out of 7)", "Partition"]


def make_mhist(root: Path, n_train: tuple[int, int] = (26, 14), n_test: tuple[int, int] = (13, 7)) -> Path:
    """A small MHIST: HP (pinkish) and SSA (darker) 224x224 PNGs, imbalanced like the real one (~63/37)."""
    from PIL import Image

    base = root / "MHIST"
    (base / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, i = [], 0
    for partition, counts in (("train", n_train), ("test", n_test)):
        for label, count in zip(("HP", "SSA"), counts):
            for _ in range(count):
                tint = np.array([230, 170, 200] if label == "HP" else [150, 90, 140])
                pixels = np.clip(tint + rng.normal(0, 25, (224, 224, 3)), 0, 255).astype(np.uint8)
                name = f"MHIST_{i:04d}.png"
                Image.fromarray(pixels).save(base / "images" / name)
                rows.append({"Image Name": name, "Majority Vote Label": label,
                             "Number of Annotators who Selected SSA (Out of 7)": 5 if label == "SSA" else 1,
                             "Partition": partition})
                i += 1
    with open(base / "annotations.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_datadam_mhist_study_is_convnet7_at_224_and_its_points_run_the_report_setting():
    study = load_study("datadam_mhist")
    assert (study.dataset, study.model.depth, study.ipc) == ("mhist", 7, (50,))
    point = study.named_points["seed_report_noise"]
    assert (point["init"], point["iterations"], point["lr_img"]) == ("noise", 10, 0.1)


def test_generated_mhist_loads_with_its_partition_and_imbalance(tmp_path):
    data = load_data("mhist", make_mhist(tmp_path), 0.1, 0, with_test=True)
    assert data.train.images.shape[1:] == (3, 224, 224)
    assert len(data.train) + len(data.val) == 40 and len(data.test) == 20
    assert data.test.labels.tolist().count(0) == 13  # HP = 0, SSA = 1


@pytest.mark.slow
def test_smoke_mhist_study_reports_balanced_accuracy_and_the_majority_baseline(tmp_path, ray_session):
    from dd_tune.study import main

    root = make_mhist(tmp_path / "data")
    assert main(["datadam_mhist", "--profile", "smoke", "--storage", str(tmp_path / "runs"),
                 "--data-root", str(root)]) == 0
    report = json.loads((tmp_path / "runs" / "datadam_mhist" / "report.json").read_text())
    first = next(iter(report["by_ipc"].values()))
    assert first["test_class_shares"] == pytest.approx([0.65, 0.35])
    assert all(len(first["reeval"]["best"][a]["balanced"]) == 2 for a in ("convnet", "lenet"))
    md = (tmp_path / "runs" / "datadam_mhist" / "report.md").read_text()
    assert "convnet balanced acc (%)" in md and "always predicting the majority class scores 65.00% accuracy" in md


@pytest.mark.parametrize("damage, message", [
    ("no_columns", "not MHIST's annotation file (no column 'Majority Vote Label', 'Partition'"),
    ("binary_csv", "annotations.csv: not a readable CSV text file (UnicodeDecodeError)"),
    ("missing_image", "MHIST_0003.png is listed in annotations.csv but missing"),
    ("bad_png", "MHIST_0003.png cannot be read (UnidentifiedImageError); the copy is damaged"),
    ("small_png", "MHIST_0003.png is 100x80; MHIST patches are 224x224"),
    ("bad_label", "unknown label 'XYZ'; expected ['HP', 'SSA']"),
])
def test_a_damaged_mhist_copy_is_one_error_before_ray(damage, message, tmp_path, monkeypatch, capsys):
    from PIL import Image

    import dd_tune.tune.prepare
    from dd_tune.study import main

    root = make_mhist(tmp_path / "data", n_train=(4, 3), n_test=(2, 2))
    base = root / "MHIST"
    ann, image = base / "annotations.csv", base / "images" / "MHIST_0003.png"
    if damage == "no_columns":
        ann.write_text("Image Name,Label\nMHIST_0000.png,HP\n")
    elif damage == "binary_csv":
        ann.write_bytes(bytes(range(128, 256)) * 8)
    elif damage == "missing_image":
        image.unlink()
    elif damage == "bad_png":
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    elif damage == "small_png":
        Image.new("RGB", (100, 80)).save(image)
    elif damage == "bad_label":
        ann.write_text(ann.read_text().replace("MHIST_0003.png,HP", "MHIST_0003.png,XYZ"))
    monkeypatch.setattr(dd_tune.tune.prepare, "connect", lambda *a, **k: pytest.fail("Ray must not start"))
    rc = main(["datadam_mhist", "--profile", "smoke", "--data-root", str(root), "--storage", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "runs").exists()
