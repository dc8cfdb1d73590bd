"""ZCA whitening (dd_tune.core.zca) against an independent computation of Kornia's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_tune.base.errors import ConfigError, DataError
from dd_tune.core.zca import EPS, cached_zca, fit_zca


def _images(n: int = 60, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 4, 4, generator=g)
    return (base + 0.5 * base.mean(dim=1, keepdim=True)).clamp(0, 1)  # correlated channels, as in photos


def _kornia_reference(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kornia's zca_mean in numpy: mean, T = U diag(1/sqrt(S+eps)) U^T and T_inv from an SVD of the
    unbiased covariance."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(axis=0, keepdims=True)
    centred = flat - mean
    cov = centred.T @ centred / (len(flat) - 1)
    u, s, _ = np.linalg.svd(cov)
    t = u @ (1 / np.sqrt(s[:, None] + eps) * u.T)
    t_inv = u @ (np.sqrt(s[:, None] + eps) * u.T)
    return mean, t, t_inv


def test_whitening_matches_the_reference_computation():
    x = _images()
    mean, t, t_inv = _kornia_reference(x.numpy(), EPS)
    w = fit_zca(x)
    expected = (x.reshape(len(x), -1).numpy() - mean) @ t
    assert np.allclose(w.whiten(x).reshape(len(x), -1).numpy(), expected, atol=1e-5)
    assert np.allclose(w.matrix.numpy(), t, atol=1e-5) and np.allclose(w.inverse.numpy(), t_inv, atol=1e-5)
    # other images (a test split) go through the same transform fitted on the training images
    y = _images(7, seed=1)
    assert np.allclose(w.whiten(y).reshape(7, -1).numpy(), (y.reshape(7, -1).numpy() - mean) @ t, atol=1e-5)


def test_whiten_then_unwhiten_round_trips():
    x = _images()
    w = fit_zca(x)
    assert torch.allclose(w.unwhiten(w.whiten(x)), x, atol=1e-5)
    assert w.whiten(x).shape == x.shape


def test_whitened_covariance_is_shrunk_to_identity():
    """W C W = U diag(S / (S + eps)) U^T: directions with variance far above eps come out with unit
    variance, those far below are damped (the regularisation)."""
    x = _images(400)
    w = fit_zca(x)
    z = w.whiten(x).reshape(len(x), -1).double()
    cov = torch.cov(z.T)
    flat = x.reshape(len(x), -1).double()
    s, u = torch.linalg.eigh(torch.cov(flat.T))
    assert torch.allclose(cov, (u * (s / (s + EPS))) @ u.T, atol=1e-4)


def test_the_fit_is_cached_by_content(tmp_path):
    x = _images()
    first = cached_zca(x, tmp_path)
    files = list(tmp_path.glob("zca-*.pt"))
    assert len(files) == 1
    again = cached_zca(x, tmp_path)
    assert torch.equal(first.matrix, again.matrix) and torch.equal(first.mean, again.mean)
    cached_zca(_images(seed=2), tmp_path)
    assert len(list(tmp_path.glob("zca-*.pt"))) == 2  # other images, another transform


def test_one_image_has_no_covariance():
    with pytest.raises(DataError, match="at least 2 images"):
        fit_zca(_images(1))


def test_a_zca_study_whitens_every_split_with_the_training_splits_transform(data_root, tmp_path):
    from dd_tune.core.datasets import DATASETS, load_split
    from dd_tune.core.splits import load_data, load_test

    data = load_data("mnist", data_root, 0.1, 0, with_test=True, zca=True, zca_dir=tmp_path)
    w = data.whitening
    assert w is not None and len(list(tmp_path.glob("zca-*.pt"))) == 1  # cached beside the experts
    raw_train, _ = load_split(DATASETS.get("mnist"), data_root, "train")
    # fitted on the whole training split in [0, 1], as the authors do
    assert torch.allclose(w.mean, raw_train.float().reshape(len(raw_train), -1).mean(0) / 255, atol=1e-5)
    raw_test, test_labels = load_split(DATASETS.get("mnist"), data_root, "test")
    first = torch.argsort(test_labels, stable=True)[:3]  # the test split is held sorted by class
    assert torch.allclose(data.test.images[:3], w.whiten(raw_test[first].float() / 255), atol=1e-5)
    assert torch.allclose(load_test("mnist", data_root, whitening=w).images[:3], data.test.images[:3])
    back = w.unwhiten(data.train.images[:50])
    assert float(back.min()) > -1e-3 and float(back.max()) < 1 + 1e-3  # pixels again
    plain = load_data("mnist", data_root, 0.1, 0)
    assert plain.whitening is None and not torch.allclose(plain.train.images[:3], data.train.images[:3])


def test_experts_of_whitened_data_are_other_experts():
    from dd_tune.core.models import ModelSpec
    from dd_tune.experts.trajectories import expert_key
    from dd_tune.methods.pad_config import ExpertConfig

    spec = ModelSpec("convnet", 1, 10, (28, 28))
    plain = expert_key("mnist", 0.1, 0, spec, ExpertConfig(), 0)
    assert expert_key("mnist", 0.1, 0, spec, ExpertConfig(), 0, zca=True) != plain
    assert expert_key("mnist", 0.1, 0, spec, ExpertConfig(), 0, zca=False) == plain  # earlier keys kept


def test_a_whitened_set_says_so_and_is_shown_unwhitened(tmp_path):
    from dd_tune.core.synset import SynSet

    images = torch.nn.functional.interpolate(torch.rand(10, 1, 4, 4), size=(28, 28))
    w = fit_zca(torch.rand(30, 1, 28, 28))
    s = SynSet(w.whiten(images), torch.arange(10), "mnist", 1, "dm", zca=True)
    s.save(tmp_path / "s.pt")
    loaded = SynSet.load(tmp_path / "s.pt")
    assert loaded.zca and torch.equal(loaded.images, s.images)
    assert torch.allclose(loaded.viewable(loaded.images, w), images.clamp(0, 1), atol=1e-4)
    shown = loaded.viewable(loaded.images)  # without the transform: each image stretched to [0, 1]
    assert float(shown.min()) == 0.0 and float(shown.max()) == pytest.approx(1.0)
    with pytest.raises(DataError, match="zca must be true or false"):
        SynSet(images, torch.arange(10), "mnist", 1, "dm", zca="yes").validate()  # type: ignore[arg-type]


def test_distill_and_evaluate_a_whitened_set(tmp_path, data_root):
    """The commands end to end with data.zca: the set is distilled on whitened images, says so, and is
    tested on the whitened test split (evaluate refits the dataset's transform)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "dm.pt"
    env = {"PYTHONWARNINGS": "ignore"}
    common = ["--data-root", str(data_root), "--device", "cpu"]
    r = subprocess.run([sys.executable, "-m", "dd_tune.distill", "dm_mnist", "--profile", "smoke", "--set",
                        "distill.iterations=2", "--set", "data.zca=true", "--out", str(out), *common],
                       capture_output=True, text=True, env={**__import__("os").environ, **env})
    assert r.returncode == 0, r.stderr
    from dd_tune.core.synset import SynSet

    assert SynSet.load(out).zca and out.with_suffix(".png").exists()
    r = subprocess.run([sys.executable, "-m", "dd_tune.evaluate", str(out), "--models", "lenet", "--runs", "1",
                        "--epochs", "2", "--json", str(tmp_path / "e.json"), *common], capture_output=True, text=True,
                       env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert 0 <= json.loads((tmp_path / "e.json").read_text())["lenet"]["mean"] <= 100
    assert len(list((tmp_path / "cache" / "dd_tune" / "zca").glob("zca-*.pt"))) == 1  # dd_tune's own cache


@pytest.mark.slow
def test_smoke_study_with_zca_end_to_end(tmp_path, data_root, ray_session):
    """Trials, the confirmation and the test pass on whitened images through Ray: the chosen set says it
    is whitened, the transform is cached beside the experts, the report names the protocol."""
    import json

    from dd_tune.core.synset import SynSet
    from dd_tune.study import main

    assert main(["dm_mnist", "--profile", "smoke", "--set", "data.zca=true", "--storage", str(tmp_path),
                 "--data-root", str(data_root)]) == 0
    study_dir = tmp_path / "dm_mnist"
    report = json.loads((study_dir / "report.json").read_text())
    assert "ZCA-whitened" in report["protocol"] and "ZCA-whitened" in (study_dir / "report.md").read_text()
    assert SynSet.load(study_dir / "best" / "synset.pt").zca
    assert len(list((tmp_path / "experts").glob("zca-*.pt"))) == 1
    best = report["reeval"]["best"]["convnet"]
    assert len(best["runs"]) >= 1 and all(0.0 <= r <= 100.0 for r in best["runs"])


def test_zca_on_large_images_is_refused_before_anything_runs():
    from dd_tune.methods.configs import load_study

    with pytest.raises(ConfigError, match=r"'data.zca' whitens with a D x D covariance over the D = 150,528"):
        load_study("datadam_mhist", "smoke", [("data.zca", True)])
    assert load_study("dm_mnist", "smoke", [("data.zca", True)]).data.zca
