"""The one image container: every image loader returns an ImageDataset, checked for consistent lengths."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

sys.path.insert(0, str(Path(__file__).parent))
from cifar_fixture import write_cifar10_fixture, write_cifar100_fixture  # noqa: E402

from mtlnotes.data.cifar import read_cifar_archive  # noqa: E402
from mtlnotes.data.images import ImageDataset  # noqa: E402
from mtlnotes.data.svhn import read_svhn_mat  # noqa: E402


def test_cifar_and_svhn_readers_return_the_one_container(tmp_path):
    c10 = read_cifar_archive(write_cifar10_fixture(tmp_path / "c10.tar.gz"), "cifar10", "test")
    c100 = read_cifar_archive(write_cifar100_fixture(tmp_path / "c100.tar.gz"), "cifar100", "train")
    rng = np.random.default_rng(0)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, 4), dtype=np.uint8),
                                                   "y": np.array([[1], [2], [10], [3]], dtype=np.uint8)})
    svhn = read_svhn_mat(tmp_path / "test_32x32.mat")
    for d, name in ((c10, "cifar10-test"), (c100, "cifar100-train"), (svhn, "svhn-test_32x32")):
        assert type(d) is ImageDataset and d.name == name
        assert d.images.dtype == torch.float32 and d.images.shape[1:] == (3, 32, 32) and len(d) == len(d.labels)
    assert c10.coarse is None and c100.coarse is not None and len(c100.coarse_classes) == 20
    assert svhn.classes == tuple("0123456789")


def test_mismatched_lengths_are_refused_with_the_name():
    with pytest.raises(ValueError, match="toy: 3 images but 2 labels"):
        ImageDataset(torch.zeros(3, 1, 2, 2), torch.zeros(2, dtype=torch.int64), "toy")
    with pytest.raises(ValueError, match="toy: 1 superclass labels for 2 images"):
        ImageDataset(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64), "toy", coarse=torch.zeros(1))
