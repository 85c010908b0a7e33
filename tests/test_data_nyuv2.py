"""NYUv2 loader on a tiny fixture in MTAN's preprocessed layout (one .npy per image and modality); MTAN's
augmentation, losses and the Table 3 metrics on hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from mtlnotes.data import DataMissingError
from mtlnotes.data.nyuv2 import NYUV2_METRICS, NYUv2, NYUv2Meter, nyuv2_losses, random_scale_crop


def _write(root, split, n, h=4, w=6, seed=0):
    rng = np.random.default_rng(seed)
    for m in ("image", "label", "depth", "normal"):
        (root / "nyuv2" / split / m).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(root / "nyuv2" / split / "image" / f"{i}.npy", rng.uniform(size=(h, w, 3)))
        lab = rng.integers(-1, 13, size=(h, w)).astype(np.float64)
        np.save(root / "nyuv2" / split / "label" / f"{i}.npy", lab)
        np.save(root / "nyuv2" / split / "depth" / f"{i}.npy", rng.uniform(0, 10, size=(h, w, 1)))
        nrm = rng.normal(size=(h, w, 3))
        np.save(root / "nyuv2" / split / "normal" / f"{i}.npy", nrm / np.linalg.norm(nrm, axis=-1, keepdims=True))


def test_reads_fixture_in_official_layout(tmp_path):
    _write(tmp_path, "train", 3)
    _write(tmp_path, "val", 2)
    ds = NYUv2("train", root=tmp_path, expected=3, shape=(4, 6))
    assert len(ds) == 3
    image, label, depth, normal = ds[1]
    assert image.shape == (3, 4, 6) and label.shape == (4, 6) and depth.shape == (1, 4, 6) and normal.shape == (3, 4, 6)
    raw = np.load(tmp_path / "nyuv2" / "train" / "image" / "1.npy")
    assert np.allclose(image.numpy(), raw.transpose(2, 0, 1).astype(np.float32))
    assert label.dtype.is_floating_point is False and int(label.min()) >= -1 and int(label.max()) <= 12
    with pytest.raises(IndexError, match="out of range"):
        ds[3]


def test_official_counts_and_shapes_are_enforced(tmp_path):
    _write(tmp_path, "train", 3)
    _write(tmp_path, "val", 2)
    with pytest.raises(ValueError, match="expected 795 .npy files, found 3"):
        NYUv2("train", root=tmp_path)
    with pytest.raises(ValueError, match="expected \\(288, 384, 3\\)"):
        NYUv2("val", root=tmp_path, expected=2)[0]
    with pytest.raises(ValueError, match="split"):
        NYUv2("test", root=tmp_path)


def test_bad_labels_rejected(tmp_path):
    _write(tmp_path, "train", 1)
    _write(tmp_path, "val", 1)
    np.save(tmp_path / "nyuv2" / "train" / "label" / "0.npy", np.full((4, 6), 13.0))
    with pytest.raises(ValueError, match="classes outside"):
        NYUv2("train", root=tmp_path, expected=1, shape=(4, 6))[0]


def test_missing_data_says_what_to_download(tmp_path):
    with pytest.raises(DataMissingError, match="nyuv2.zip") as err:
        NYUv2("train", root=tmp_path)
    assert "train/image" in str(err.value)


# ----------------------------------------------------------------------------- augmentation, losses, metrics
def test_random_scale_crop_at_scale_two_repeats_a_window_and_halves_depth():
    lab = torch.arange(16).reshape(1, 4, 4)
    depth = torch.arange(16.0).reshape(1, 1, 4, 4)
    img, normal = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    out_img, out_lab, out_dep, out_nor = random_scale_crop(img, lab, depth, normal, torch.Generator().manual_seed(0),
                                                           scales=(2.0,))
    i, j = divmod(int(out_lab[0, 0, 0]), 4)  # the crop's top-left pixel, a 2×2 window, each pixel repeated 2×2
    window = lab[0, i:i + 2, j:j + 2]
    assert torch.equal(out_lab[0], window.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert torch.equal(out_dep[0, 0], depth[0, 0, i:i + 2, j:j + 2].repeat_interleave(2, 0).repeat_interleave(2, 1) / 2)
    assert out_img.shape == img.shape and out_nor.shape == normal.shape and out_lab.dtype == torch.long


def test_nyuv2_losses_hand_computed():
    label = torch.tensor([[[0, 1], [-1, 2]]])
    seg = torch.full((1, 13, 2, 2), -math.log(13.0), dtype=torch.float64)  # uniform: NLL = log 13 per pixel
    depth = torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]], dtype=torch.float64)
    depth_pred = torch.tensor([[[[2.0, 9.0], [2.0, 5.0]]]], dtype=torch.float64)  # |1|, masked, 0, |2|: mean 1
    normal = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    normal[:, 2] = 1.0
    losses = nyuv2_losses([seg, depth_pred, -normal], label, depth, normal)
    torch.testing.assert_close(losses, torch.tensor([math.log(13.0), 1.0, 2.0], dtype=torch.float64))


def test_nyuv2_meter_perfect_predictions_and_metric_names():
    label = torch.tensor([[[0, 1], [2, -1]]])
    seg = torch.log(torch.nn.functional.one_hot(label.clamp(min=0), 13).permute(0, 3, 1, 2).double() + 1e-9)
    depth = torch.tensor([[[[1.0, 2.0], [0.0, 4.0]]]])
    normal = torch.zeros(1, 3, 2, 2)
    normal[:, 0] = 1.0
    meter = NYUv2Meter()
    meter.update(seg, label, depth, depth, normal, normal)
    r = meter.result()
    assert list(r) == [name for name, _ in NYUV2_METRICS]
    assert r["mIoU"] == r["pix_acc"] == 1.0 and r["abs_err"] == r["rel_err"] == 0.0
    assert r["mean_angle"] == pytest.approx(0.0, abs=1e-5) and r["within_11.25"] == r["within_30"] == 1.0
