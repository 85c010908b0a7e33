"""mtlnotes.data.dsb2018 (real data and fixtures in the official layout), drive and lung_ct (fixtures)."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
from PIL import Image

from mtlnotes.data.cache import ChecksumError, DataError, DataMissingError, RemoteFile
from mtlnotes.data.dsb2018 import (LABELS, instance_labels, load_dsb2018, read_labels, rle_decode, rle_encode)
from mtlnotes.data.drive import load_drive
from mtlnotes.data.lung_ct import load_lung_ct, lung_split


# ---------------------------------------------------------------- RLE

def test_rle_decode_hand_case_is_one_based_and_column_major():
    # 3 rows × 2 columns; pixel numbers run down the first column (1, 2, 3), then the second (4, 5, 6)
    mask = rle_decode("2 2 6 1", (3, 2))
    assert mask.tolist() == [[False, False], [True, False], [True, True]]
    assert rle_encode(mask) == "2 2 6 1"
    assert rle_encode(np.zeros((2, 2), bool)) == "" and not rle_decode("", (2, 2)).any()


def test_rle_round_trip_on_random_masks():
    rng = np.random.default_rng(0)
    for shape in [(5, 7), (16, 3), (1, 1)]:
        mask = rng.random(shape) < 0.4
        assert (rle_decode(rle_encode(mask), shape) == mask).all()


@pytest.mark.parametrize("rle, match", [("1 2 3", "odd number"), ("1 x", "not an integer"), ("0 2", ">= 1"),
                                        ("1 0", ">= 1"), ("1 3 2 1", "overlap"), ("3 3", "wrong size")])
def test_rle_malformed(rle, match):
    with pytest.raises(ValueError, match=match):
        rle_decode(rle, (2, 2))


# ---------------------------------------------------------------- fixtures in the official layout

def _fixture(tmp_path, rows, sizes={"aaa": (4, 6), "bbb": (5, 5)}):
    base = tmp_path / "dsb2018"
    for image_id, (h, w) in sizes.items():
        d = base / "stage1_train" / image_id / "images"
        d.mkdir(parents=True)
        Image.fromarray(np.full((h, w, 4), 200, np.uint8), "RGBA").save(d / f"{image_id}.png")
    csv = "ImageId,EncodedPixels\n" + "".join(f"{i},{r}\n" for i, r in rows)
    path = base / "stage1_train_labels.csv.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("stage1_train_labels.csv", csv)
    remote = RemoteFile("dsb2018", path.name, urls=(), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    return tmp_path, remote


def test_loader_decodes_instances_and_resizes(tmp_path):
    root, remote = _fixture(tmp_path, [("aaa", "1 2"), ("aaa", "9 3"), ("bbb", "13 1")])
    data = load_dsb2018(8, root, labels_file=remote, cache=False)
    assert data.ids == ["aaa", "bbb"] and data.images.shape == (2, 3, 8, 8) and data.labels.shape == (2, 8, 8)
    assert set(np.unique(data.labels[0])) == {0, 1, 2} and set(np.unique(data.labels[1])) == {0, 1}
    assert read_labels(root / "dsb2018" / remote.filename) == {"aaa": ["1 2", "9 3"], "bbb": ["13 1"]}
    exact = instance_labels("aaa", ["1 2", "9 3"], (4, 6))
    assert exact[0:2, 0].tolist() == [1, 1] and exact[0:3, 2].tolist() == [2, 2, 2]


def test_loader_errors_name_the_image(tmp_path):
    root, remote = _fixture(tmp_path, [("aaa", "1 2")])  # bbb has no labels
    with pytest.raises(DataError, match="image bbb: no masks"):
        load_dsb2018(8, root, labels_file=remote, cache=False)


def test_malformed_rle_names_the_image(tmp_path):
    root, remote = _fixture(tmp_path, [("aaa", "1 2"), ("bbb", "4 2 5")])
    with pytest.raises(DataError, match="image bbb, mask 1: RLE has an odd number"):
        load_dsb2018(8, root, labels_file=remote, cache=False)


def test_mask_of_the_wrong_size_names_the_image(tmp_path):
    root, remote = _fixture(tmp_path, [("aaa", "20 10"), ("bbb", "1 1")])  # aaa has 4×6 = 24 pixels
    with pytest.raises(DataError, match="image aaa, mask 1: .*5x5|image aaa, mask 1: .*wrong size"):
        load_dsb2018(8, root, labels_file=remote, cache=False)


def test_label_file_checksum_and_missing_images(tmp_path):
    root, remote = _fixture(tmp_path, [("aaa", "1 2"), ("bbb", "1 1")])
    with pytest.raises(ChecksumError, match="sha256"):
        load_dsb2018(8, root, labels_file=LABELS, cache=False)  # the fixture is not the official file
    root2, remote2 = _fixture(tmp_path / "other", [("aaa", "1 2"), ("bbb", "1 1"), ("ccc", "1 1")])
    with pytest.raises(DataError, match="ccc"):
        load_dsb2018(8, root2, labels_file=remote2, cache=False)
    with pytest.raises(DataMissingError):
        load_dsb2018(8, tmp_path / "nowhere", cache=False)


# ---------------------------------------------------------------- the real data (skips without it)

def test_real_label_file(data_root):
    if not (data_root / "dsb2018" / LABELS.filename).exists():
        pytest.skip("DSB2018 is not in the data cache")
    from mtlnotes.data.cache import fetch

    table = read_labels(fetch(LABELS, data_root, download=False))
    assert len(table) == 670 and sum(len(v) for v in table.values()) == 29461  # MANIFEST.md, section 7
    image_id = sorted(table)[0]
    png = data_root / "dsb2018" / "stage1_train" / image_id / "images" / f"{image_id}.png"
    h, w = np.asarray(Image.open(png)).shape[:2]
    labels = instance_labels(image_id, table[image_id], (h, w))
    assert labels.max() == len(table[image_id])
    assert [rle_encode(labels == k) for k in range(1, 4)] == table[image_id][:3]  # the official RLE is canonical


# ---------------------------------------------------------------- DRIVE and lung CT fixtures

def _drive_fixture(root, split="training", ids=(21, 22), size=(6, 5), mask_size=None):
    base = root / "drive" / "DRIVE" / split
    for sub in ("images", "1st_manual", "mask"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        Image.fromarray(np.full(size + (3,), i, np.uint8), "RGB").save(base / "images" / f"{i:02d}_{split}.tif")
        ves = np.zeros(mask_size or size, np.uint8)
        ves[1, :] = 255
        Image.fromarray(ves, "L").save(base / "1st_manual" / f"{i:02d}_manual1.gif")
        Image.fromarray(np.full(size, 255, np.uint8), "L").save(base / "mask" / f"{i:02d}_{split}_mask.gif")


def test_drive_loader_reads_the_official_format(tmp_path):
    _drive_fixture(tmp_path)
    d = load_drive("training", tmp_path, strict=False)
    assert d.ids == [21, 22] and d.images.shape == (2, 3, 6, 5) and d.images[1, 0, 0, 0] == 22
    assert d.vessels[0, 1].all() and not d.vessels[0, 0].any() and d.fov.all()
    with pytest.raises(DataError, match="20 official images"):
        load_drive("training", tmp_path)  # strict: the fixture is not the official set
    with pytest.raises(DataMissingError, match="grand-challenge"):
        load_drive("test", tmp_path, strict=False)


def test_drive_mask_of_the_wrong_size_names_the_image(tmp_path):
    _drive_fixture(tmp_path, ids=(21,), mask_size=(4, 5))
    with pytest.raises(DataError, match="image 21_training: its 1st_manual is 5x4"):
        load_drive("training", tmp_path, strict=False)


def test_lung_ct_loader_reads_the_official_format(tmp_path):
    for sub in ("2d_images", "2d_masks"):
        (tmp_path / "lung_ct" / sub).mkdir(parents=True)
    for k, name in enumerate(["ID_0000_Z_0142", "ID_0001_Z_0146"]):
        Image.fromarray(np.full((4, 4), -1000 + k, np.int32), "I").save(tmp_path / "lung_ct" / "2d_images" / f"{name}.tif")
        m = np.zeros((4, 4), np.uint8)
        m[1:3, 1:3] = 255
        Image.fromarray(m, "L").save(tmp_path / "lung_ct" / "2d_masks" / f"{name}.tif")
    d = load_lung_ct(tmp_path, strict=False)
    assert d.names == ["ID_0000_Z_0142", "ID_0001_Z_0146"] and d.images.shape == (2, 1, 4, 4)
    assert d.images[1, 0, 0, 0] == -999 and d.masks.sum() == 8
    with pytest.raises(DataError, match="267 official"):
        load_lung_ct(tmp_path)
    (tmp_path / "lung_ct" / "2d_masks" / "ID_0001_Z_0146.tif").unlink()
    with pytest.raises(DataError, match="image ID_0001_Z_0146.tif has no partner in 2d_masks"):
        load_lung_ct(tmp_path, strict=False)


def test_lung_split_sizes():
    tr, te = lung_split(267)
    assert len(tr) == 214 and len(te) == 53 and not set(tr) & set(te)
    assert (lung_split(267)[0] == tr).all()
