"""NYUv2 loader on a tiny fixture in MTAN's preprocessed layout (one .npy per image and modality)."""

import numpy as np
import pytest

from mtlnotes.data import DataMissingError
from mtlnotes.data.nyuv2 import NYUv2


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
