"""Stanford Cars loader on tiny fixtures written in the official on-disk format (tgz + MATLAB .mat files)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from mtlnotes.data import DataMissingError
from mtlnotes.data.cache import file_checksum
from mtlnotes.data.stanford_cars import (CARS_FILES, car_make, car_type, read_cars_annotations, read_cars_images,
                                         read_cars_meta)
import mtlnotes.data.stanford_cars as sc

NAMES = ["AM General Hummer SUV 2000", "Aston Martin V8 Vantage Coupe 2012", "Chevrolet Silverado 1500 Extended Cab 2012",
         "Chevrolet Express Cargo Van 2007", "Dodge Challenger SRT8 2011"]


def _mat_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    savemat(buf, obj)
    return buf.getvalue()


def _annotations(fnames, classes, with_class=True):
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"] + (["class"] if with_class else []) + ["fname"]
    arr = np.zeros((1, len(fnames)), dtype=[(f, "O") for f in fields])
    for i, (f, c) in enumerate(zip(fnames, classes)):
        arr[0, i]["bbox_x1"], arr[0, i]["bbox_y1"], arr[0, i]["bbox_x2"], arr[0, i]["bbox_y2"] = 2, 3, 9, 7
        if with_class:
            arr[0, i]["class"] = c
        arr[0, i]["fname"] = f
    return {"annotations": arr}


def _add(tar, name, payload: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def _jpeg(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_cars_fixture(root: Path) -> Path:
    """Official layout under ``root/stanford_cars``: devkit tgz, train/test tgz, labelled test annotations."""
    d = root / "stanford_cars"
    d.mkdir(parents=True)
    names = np.empty((1, len(NAMES)), dtype=object)
    names[0, :] = NAMES
    with tarfile.open(d / "car_devkit.tgz", "w:gz") as tar:
        _add(tar, "devkit/cars_meta.mat", _mat_bytes({"class_names": names}))
        _add(tar, "devkit/cars_train_annos.mat", _mat_bytes(_annotations(["00001.jpg", "00002.jpg", "00003.jpg"],
                                                                         [1, 3, 5])))
    with tarfile.open(d / "cars_train.tgz", "w:gz") as tar:
        for i, col in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)], start=1):
            _add(tar, f"cars_train/{i:05d}.jpg", _jpeg(col))
    with tarfile.open(d / "cars_test.tgz", "w:gz") as tar:
        for i in (1, 2):
            _add(tar, f"cars_test/{i:05d}.jpg", _jpeg((200, 200, 0)))
    (d / "cars_test_annos_withlabels.mat").write_bytes(_mat_bytes(_annotations(["00001.jpg", "00002.jpg"], [2, 4])))
    return d


@pytest.fixture
def fixture_root(tmp_path, monkeypatch):
    d = write_cars_fixture(tmp_path)
    # the fixture files are not the official ones: point the checksums at them (format is what is tested)
    patched = {k: sc.RemoteFile(v.dataset, v.filename, v.urls, md5=file_checksum(d / v.filename, "md5"),
                                how_to_get=v.how_to_get) for k, v in CARS_FILES.items()}
    monkeypatch.setattr(sc, "CARS_FILES", patched)
    return tmp_path


def test_make_and_type_rules():
    assert [car_make(n) for n in NAMES] == ["AM General", "Aston Martin", "Chevrolet", "Chevrolet", "Dodge"]
    assert [car_type(n) for n in NAMES] == ["SUV", "Coupe", "Extended Cab", "Cargo Van", "Other"]
    assert car_type("Chrysler Town and Country Minivan 2012") == "Minivan"


def test_load_fixture(fixture_root):
    train = sc.load_stanford_cars("train", image_size=8, root=fixture_root, download=False)
    assert train.images.shape == (3, 3, 8, 8) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0, 2, 4]  # 1-based classes in the .mat files
    assert train.classes == tuple(NAMES)
    assert train.makes[1] == "Aston Martin" and train.types[2] == "Extended Cab"
    # colours survive decoding: image 0 red, image 1 green, image 2 blue (JPEG is lossy: compare roughly)
    means = train.images.float().mean(dim=(2, 3))
    assert means.argmax(1).tolist() == [0, 1, 2]
    test = sc.load_stanford_cars("test", image_size=4, crop_to_box=True, root=fixture_root, download=False)
    assert test.labels.tolist() == [1, 3] and test.images.shape == (2, 3, 4, 4)


def test_readers_and_errors(fixture_root, tmp_path):
    d = fixture_root / "stanford_cars"
    assert read_cars_meta(d / "car_devkit.tgz") == tuple(NAMES)
    ann = read_cars_annotations(d / "cars_test_annos_withlabels.mat")
    assert ann[0] == {"fname": "00001.jpg", "label": 1, "bbox": (2, 3, 9, 7)}
    unlabelled = tmp_path / "cars_test_annos.mat"
    unlabelled.write_bytes(_mat_bytes(_annotations(["00001.jpg"], [1], with_class=False)))
    with pytest.raises(ValueError, match="_withlabels"):
        read_cars_annotations(unlabelled)
    with pytest.raises(ValueError, match="1 annotated images missing from cars_test/ \\(e.g. 00009.jpg\\)"):
        read_cars_images(d / "cars_test.tgz", "cars_test", [{"fname": "00009.jpg", "label": 0, "bbox": (0, 0, 1, 1)}],
                         4)
    with pytest.raises(ValueError, match="split must be"):
        sc.load_stanford_cars("val", root=fixture_root)


def test_missing_data_names_file_and_checksum(tmp_path):
    with pytest.raises(DataMissingError) as err:
        sc.load_stanford_cars("train", root=tmp_path, download=False)
    msg = str(err.value)
    assert "stanford_cars/car_devkit.tgz" in msg and "c3b158d763b6e2245038c8ad08e45376" in msg
    assert "jkrause" in msg
