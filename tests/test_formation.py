"""IDC's multi-formation: decoding and the ``mix`` initialisation, against hand computations."""

from __future__ import annotations

import torch

from dd_tune.core.formation import decode_grouped, decode_labels_grouped, decode_zoom, mix_grouped, mix_tiles
from dd_tune.core.synset import SynSet


def _upsample_2_to_4(v0: float, v1: float) -> list[float]:
    # bilinear, align_corners=False: source x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
    return [v0, 0.75 * v0 + 0.25 * v1, 0.25 * v0 + 0.75 * v1, v1]


def test_decode_zoom_cuts_tiles_row_major_and_upsamples_bilinearly():
    img = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    out = decode_zoom(img, 2)
    assert out.shape == (4, 1, 4, 4)
    tiles = [img[0, 0, :2, :2], img[0, 0, :2, 2:], img[0, 0, 2:, :2], img[0, 0, 2:, 2:]]  # (0,0), (0,1), (1,0), (1,1)
    for k, tile in enumerate(tiles):
        rows = [_upsample_2_to_4(float(tile[r, 0]), float(tile[r, 1])) for r in range(2)]  # along the width
        columns = [_upsample_2_to_4(rows[0][j], rows[1][j]) for j in range(4)]  # then along the height
        expect = torch.tensor([[columns[j][i] for j in range(4)] for i in range(4)])
        assert torch.allclose(out[k, 0], expect, atol=1e-6)


def test_decode_zoom_is_tile_major_over_a_batch_and_pads_odd_sides_with_half():
    imgs = torch.stack([torch.full((1, 4, 4), 1.0), torch.full((1, 4, 4), 2.0)])
    out = decode_zoom(imgs, 2)
    # tile (0,0) of image 0, of image 1, then tile (0,1) of both, ...
    assert [float(t.mean()) for t in out] == [1.0, 2.0] * 4
    odd = decode_zoom(torch.zeros(1, 1, 5, 5), 2)  # padded right/bottom with 0.5 to 6x6, tiles of 3
    assert odd.shape == (4, 1, 5, 5)
    assert float(odd[0].max()) == 0.0  # the top-left tile holds no padding
    assert float(odd[3, 0, 0, 0]) == 0.0 and float(odd[3, 0, -1, -1]) == 0.5  # bottom-right: 5 of its 9 pixels padding


def test_decode_grouped_is_the_authors_per_class_decode():
    torch.manual_seed(0)
    images = torch.randn(3 * 2, 1, 8, 8)  # 3 classes x ipc 2, grouped by class
    grouped = decode_grouped(images, 3, 2)
    per_class = torch.cat([decode_zoom(images[2 * c:2 * c + 2], 2) for c in range(3)])
    assert torch.equal(grouped, per_class)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert decode_labels_grouped(labels, 3, 2).tolist() == [0] * 8 + [1] * 8 + [2] * 8
    soft = torch.eye(3).repeat_interleave(2, 0)
    assert torch.equal(decode_labels_grouped(soft, 3, 2), torch.eye(3).repeat_interleave(8, 0))
    assert decode_grouped(images, 3, 1) is images


def test_mix_tiles_puts_real_image_k_times_ipc_plus_m_into_tile_k_of_image_m():
    ipc, factor = 2, 2
    reals = torch.stack([torch.full((1, 6, 6), float(v)) for v in range(ipc * factor * factor)])
    stored = mix_tiles(reals, ipc, factor)
    assert stored.shape == (ipc, 1, 6, 6)
    decoded = decode_zoom(stored, factor)  # tile-major: tile k of image m at index k * ipc + m
    assert [float(t.mean()) for t in decoded] == list(range(ipc * factor * factor))
    both = mix_grouped(torch.cat([reals, reals + 100]), 2, ipc, factor)
    assert torch.equal(both[:ipc], stored) and torch.equal(both[ipc:], stored + 100)


def test_a_multi_formation_set_trains_on_factor_squared_images(tmp_path):
    s = SynSet(torch.randn(10, 1, 28, 28), torch.arange(10), "mnist", 1, "dm", factor=2)
    images, labels = s.training_set()
    assert images.shape == (40, 1, 28, 28) and labels.tolist() == [c for c in range(10) for _ in range(4)]
    assert s.training_images_per_class == 4
    s.save(tmp_path / "s.pt")
    back = SynSet.load(tmp_path / "s.pt")
    assert back.factor == 2 and torch.equal(back.training_set()[0], images)
