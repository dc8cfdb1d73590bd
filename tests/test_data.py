from __future__ import annotations

import csv
import pickle
import re

import numpy as np
import pytest
import torch
from cifar_files import write_cifar

from dd_tune.base.errors import DataError
from dd_tune.core.datasets import DATASETS, resolve_data_root
from dd_tune.core.splits import ClassIndexedData, load_data, stratified_split


def test_stratified_split_is_deterministic_disjoint_and_proportional():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    tr, va = stratified_split(labels, 0.1, seed=0)
    tr2, va2 = stratified_split(labels, 0.1, seed=0)
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0
    assert len(tr) + len(va) == 100
    assert torch.bincount(labels[va]).tolist() == [5, 3, 2]
    assert not torch.equal(stratified_split(labels, 0.1, seed=1)[1], va)


def test_sample_per_class_is_without_replacement_and_class_pure():
    labels = torch.tensor([0] * 7 + [1] * 3 + [2] * 5)
    data = ClassIndexedData(torch.arange(15.0).view(15, 1, 1, 1), labels, 3)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = data.sample_per_class(3, g)
        assert idx.shape == (3, 3)
        for c in range(3):
            assert len(set(idx[c].tolist())) == 3
            assert (data.labels[idx[c]] == c).all()
    assert data.sample_per_class(10, g).shape == (3, 3)  # capped at the smallest class


def test_real_mnist_loads_with_unequal_classes(mnist):
    assert len(mnist.train) + len(mnist.val) == 60_000
    assert len(mnist.test.labels) == 10_000 == mnist.spec.test_images  # the FLOP estimates use the latter
    counts = mnist.train.counts.tolist()
    assert len(set(counts)) > 1 and min(counts) > 4000
    # normalised with MNIST's mean/std: the training split has ~zero mean, unit std
    assert abs(float(mnist.train.images.mean())) < 0.05
    assert abs(float(mnist.train.images.std()) - 1.0) < 0.05


def test_explicit_missing_data_root_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not exist; create it"):
        resolve_data_root(tmp_path / "nope")


def test_missing_files_without_network_is_a_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def no_network(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvu, "download_url", no_network)
    with pytest.raises(DataError, match="could not load MNIST \\(train\\) from"):
        DATASETS.get("mnist").loader(tmp_path, "train", True)


def test_cifar10_loader_reads_the_real_format(tmp_path, monkeypatch):
    write_cifar(tmp_path, "cifar10")
    data = load_data("cifar10", tmp_path, 0.1, 0, with_test=True)
    assert data.train.images.shape[1:] == (3, 32, 32)
    assert len(data.train) + len(data.val) == 50_000 and len(data.test) == 10_000
    # the pixels are the batches' rows, channel-first, as torchvision reads them (its NHWC, permuted)
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)  # generated files: no MD5 match
    monkeypatch.setattr(tvd.cifar, "check_integrity", lambda *a, **k: True)
    ref = tvd.CIFAR10(str(tmp_path), train=False)
    images, labels = DATASETS.get("cifar10").loader(tmp_path, "test", False)
    assert torch.equal(images, torch.as_tensor(ref.data).permute(0, 3, 1, 2))
    assert labels.tolist() == ref.targets


def test_cifar100_loader_reads_fine_labels(tmp_path):
    write_cifar(tmp_path, "cifar100", train=1000, test=500)
    images, labels = DATASETS.get("cifar100").loader(tmp_path, "train", False)
    assert images.shape == (1000, 3, 32, 32) and int(labels.max()) == 99


def test_a_broken_cifar_batch_is_named_with_the_fix(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", train=500, test=100)
    (folder / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(DataError, match="data_batch_3 is not a readable CIFAR batch .*delete"):
        DATASETS.get("cifar10").loader(tmp_path, "train", False)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing.*cifar-10-python.tar.gz"):
        DATASETS.get("cifar10").loader(tmp_path, "train", False)


def test_generated_cifar_of_the_wrong_size_is_refused(tmp_path):
    write_cifar(tmp_path, "cifar10", train=500, test=100)
    with pytest.raises(DataError, match="500 train images, expected 50000"):
        load_data("cifar10", tmp_path, 0.1, 0)


def test_svhn_loader_reads_mat_files(tmp_path, monkeypatch):
    import scipy.io
    import torchvision.datasets as tvd

    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 10)):
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {
            "X": rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8),
            "y": (np.arange(n) % 10 + 1).reshape(n, 1),  # SVHN stores digit 0 as label 10
        })
    monkeypatch.setattr(tvd.SVHN, "_check_integrity", lambda self: True)
    x, y = DATASETS.get("svhn").loader(tmp_path, "train", False)
    assert x.shape == (30, 3, 32, 32) and sorted(set(y.tolist())) == list(range(10))


def test_mhist_loader_reads_images_and_annotations(tmp_path):
    from PIL import Image

    base = tmp_path / "MHIST"
    (base / "images").mkdir(parents=True)
    rows = []
    for i in range(6):
        name = f"MHIST_{i:03d}.png"
        Image.fromarray(np.full((224, 224, 3), i * 10, dtype=np.uint8)).save(base / "images" / name)
        rows.append({"Image Name": name, "Majority Vote Label": "SSA" if i % 2 else "HP",
                     "Number of Annotators who Selected SSA": "3", "Partition": "test" if i >= 4 else "train"})
    with open(base / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    x, y = DATASETS.get("mhist").loader(tmp_path, "train", False)
    assert x.shape == (4, 3, 224, 224) and y.tolist() == [0, 1, 0, 1]
    assert int(x[1].float().mean()) == 10
    with pytest.raises(DataError, match="MHIST not found"):
        DATASETS.get("mhist").loader(tmp_path / "elsewhere", "train", False)


def test_loaded_splits_are_checked(mnist, tmp_path):
    """What the loader returns is checked: shape, labels, counts, pixel statistics (names the file)."""
    import torch

    from dd_tune.core.datasets import validate_split

    spec = DATASETS.get("mnist")
    images = torch.full((10_000, 1, 28, 28), 33, dtype=torch.uint8)  # MNIST's mean pixel is ~33/255
    labels = torch.arange(10_000) % 10
    validate_split(spec, tmp_path, "test", images, labels)
    bad = [
        (images.float(), labels, "expected uint8 images"),
        (images[:, :, :27], labels, "expected uint8 images of shape [N, 1, 28, 28]"),
        (images, labels[:-1], "9999 labels for 10000 images"),
        (images, labels + 1, "labels must lie in [0, 10)"),
        (images[:9000], labels[:9000], "9000 test images, expected 10000"),
        (images, labels % 9, "classes [9] have no images"),
        (torch.full_like(images, 128), labels, "mean pixel"),
    ]
    for x, y, message in bad:
        with pytest.raises(DataError, match=re.escape(message)) as e:
            validate_split(spec, tmp_path, "test", x, y)
        assert "t10k-" in str(e.value) and "downloaded again" in str(e.value)


def test_a_missing_cifar_archive_says_where_to_get_it_and_where_to_put_it(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets as tvd

    from dd_tune.core.datasets import prepare_dataset

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(tvd.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as e:
        prepare_dataset("cifar10", tmp_path)
    text = str(e.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in text
    assert f"put cifar-10-python.tar.gz in {tmp_path}" in text


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path):
    folder = write_cifar(tmp_path, "cifar10", train=500, test=100)

    class Payload:
        def __reduce__(self):
            return (print, ("a pickled call",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": Payload(), "labels": [0]}, f)
    with pytest.raises(DataError, match="test_batch is not a readable CIFAR batch .*refused global builtins.print"):
        DATASETS.get("cifar10").loader(tmp_path, "test", False)
