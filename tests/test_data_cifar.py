"""CIFAR-10/100 archive reader (official python format) and the CIFAR-MTL split, on tiny fixtures."""

from __future__ import annotations

import shutil

import pytest
import torch

from mtlnotes.data import ChecksumError, DataMissingError, RemoteFile
from mtlnotes.data.cifar import CIFAR100_ARCHIVE, load_cifar100, read_cifar_archive
from mtlnotes.data.cifar_mtl import cifar_mtl, cifar_mtl_split
from tests.cifar_fixture import write_cifar10_fixture, write_cifar100_fixture


def test_read_cifar100_fixture(tmp_path):
    path = write_cifar100_fixture(tmp_path / "cifar-100-python.tar.gz", n_train=12, n_test=5)
    train = read_cifar_archive(path, "cifar100", "train")
    assert train.images.shape == (12, 3, 32, 32) and train.images.dtype == torch.float32
    assert 0.0 <= float(train.images.min()) and float(train.images.max()) <= 1.0
    assert torch.equal(train.coarse, train.labels // 5)
    assert len(train.coarse_classes) == 20 and len(train.classes) == 100


def test_read_cifar10_fixture_concatenates_five_batches(tmp_path):
    path = write_cifar10_fixture(tmp_path / "c10.tar.gz", n_per_batch=3, n_test=4)
    assert len(read_cifar_archive(path, "cifar10", "train")) == 15
    test = read_cifar_archive(path, "cifar10", "test")
    assert len(test) == 4 and test.coarse is None


def test_pixel_layout_is_channel_major(tmp_path):
    import io, pickle, tarfile
    import numpy as np
    row = np.zeros((1, 3072), dtype=np.uint8)
    row[0, 1024 + 32 * 2 + 5] = 255  # green channel, row 2, column 5
    path = tmp_path / "c.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in (("cifar-100-python/train", {"data": row, "fine_labels": [7], "coarse_labels": [1]}),
                          ("cifar-100-python/meta", {"fine_label_names": [str(i) for i in range(100)],
                                                     "coarse_label_names": [str(i) for i in range(20)]})):
            payload = pickle.dumps(obj)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    img = read_cifar_archive(path, "cifar100", "train").images[0]
    assert img[1, 2, 5] == 1.0 and img.sum() == 1.0


def test_bad_kind_split_and_member(tmp_path):
    path = write_cifar10_fixture(tmp_path / "c10.tar.gz")
    with pytest.raises(ValueError, match="kind"):
        read_cifar_archive(path, "cifar1000", "train")
    with pytest.raises(ValueError, match="split"):
        read_cifar_archive(path, "cifar10", "valid")
    with pytest.raises(ValueError, match="not an official CIFAR python archive"):
        read_cifar_archive(path, "cifar100", "train")


def test_missing_archive_names_file_checksum_and_source(tmp_path):
    with pytest.raises(DataMissingError) as err:
        load_cifar100("train", root=tmp_path, download=False)
    msg = str(err.value)
    assert "cifar100/cifar-100-python.tar.gz" in msg and CIFAR100_ARCHIVE.md5 in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in msg


def test_corrupt_archive_gives_checksum_error(tmp_path):
    write_cifar100_fixture(tmp_path / "cifar100" / "cifar-100-python.tar.gz")
    with pytest.raises(ChecksumError, match=f"expected {CIFAR100_ARCHIVE.md5}"):
        load_cifar100("train", root=tmp_path, download=False)


def test_cifar_mtl_split_tasks_are_superclasses_and_labels_ranks(tmp_path):
    data = read_cifar_archive(write_cifar100_fixture(tmp_path / "a.tar.gz", n_train=3000), "cifar100", "train")
    tasks = cifar_mtl_split(data)
    assert torch.equal(tasks.task, data.coarse)
    assert tasks.n_tasks == 20 and int(tasks.y.min()) >= 0 and int(tasks.y.max()) <= 4
    # the fixture maps fine f to coarse f // 5, so the rank of f within its superclass is f % 5
    assert torch.equal(tasks.y, data.labels % 5)


def test_cifar_mtl_through_the_verified_cache(tmp_path, monkeypatch):
    fixture = write_cifar100_fixture(tmp_path / "cifar100" / "cifar-100-python.tar.gz", n_train=3000, n_test=3000)
    from mtlnotes.data import cache, cifar
    fake = RemoteFile("cifar100", fixture.name, (), md5=cache.file_checksum(fixture, "md5"))
    monkeypatch.setattr(cifar, "CIFAR100_ARCHIVE", fake)
    train, test = cifar_mtl(root=tmp_path, download=False)
    assert len(train) == 3000 and len(test) == 3000 and train.x.shape[1:] == (3, 32, 32)


def test_cifar_mtl_needs_every_fine_label(tmp_path):
    data = read_cifar_archive(write_cifar100_fixture(tmp_path / "a.tar.gz", n_train=20), "cifar100", "train")
    with pytest.raises(ValueError, match="all 100 fine labels"):
        cifar_mtl_split(data)


def test_cifar_mtl_needs_coarse_labels(tmp_path):
    data = read_cifar_archive(write_cifar10_fixture(tmp_path / "c.tar.gz"), "cifar10", "train")
    with pytest.raises(ValueError, match="coarse"):
        cifar_mtl_split(data)
