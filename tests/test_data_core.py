"""The verified cache, the IDX reader, MNIST/Fashion-MNIST and the multi-task splits."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import torch

from mtlnotes.data import (ChecksumError, DataMissingError, IDXFormatError, ImageDataset, RemoteFile, TaskData,
                           fetch, mnist_mtl, multi_mnist, read_idx, split_indices, write_idx)


# ---------- IDX ----------

@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_roundtrip(tmp_path, dtype, compress):
    arr = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 3).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), arr)
    np.testing.assert_array_equal(read_idx(path), arr)


def test_idx_header_by_hand(tmp_path):
    # magic 0x00000801: unsigned bytes, 1 dimension of size 3, then the payload 7 8 9
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(path), [7, 8, 9])


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(IDXFormatError, match="bad magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(IDXFormatError, match="promises 5 data bytes"):
        read_idx(tmp_path / "short")


# ---------- cache ----------

def _remote(content: bytes, **kw) -> RemoteFile:
    return RemoteFile("toy", "toy.bin", ("https://example.invalid/toy.bin",),
                      md5=hashlib.md5(content).hexdigest(), sha256=hashlib.sha256(content).hexdigest(), **kw)


def test_fetch_verifies_good_file(tmp_path):
    content = b"hello dataset"
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.bin").write_bytes(content)
    assert fetch(_remote(content), tmp_path, download=False) == tmp_path / "toy" / "toy.bin"


def test_fetch_corrupt_file_names_file_and_checksum(tmp_path):
    remote = _remote(b"the official bytes")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.bin").write_bytes(b"something else")
    with pytest.raises(ChecksumError) as err:
        fetch(remote, tmp_path, download=False)
    msg = str(err.value)
    assert "toy.bin" in msg and remote.sha256 in msg and "https://example.invalid/toy.bin" in msg


def test_fetch_missing_file_is_an_error_not_a_fallback(tmp_path):
    remote = _remote(b"x", how_to_get="Ask the dataset's authors.")
    with pytest.raises(DataMissingError) as err:
        fetch(remote, tmp_path, download=False)
    msg = str(err.value)
    assert "toy/toy.bin" in msg and remote.sha256 in msg and "Ask the dataset's authors." in msg


def test_fetch_reports_failed_download(tmp_path):
    # example.invalid never resolves (RFC 2606), so the download fails and is reported, with no file left behind
    with pytest.raises(DataMissingError, match="download attempts"):
        fetch(_remote(b"x"), tmp_path, download=True)
    assert not (tmp_path / "toy" / "toy.bin").exists()


def test_remote_file_needs_a_checksum():
    with pytest.raises(ValueError, match="checksum"):
        RemoteFile("toy", "a", ())


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    from mtlnotes.data import cache_dir

    monkeypatch.setenv("MTLNOTES_DATA", str(tmp_path))
    assert cache_dir() == tmp_path


# ---------- real MNIST ----------

def test_real_mnist_shapes_and_labels(mnist):
    train, test = mnist
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.float32 and 0.0 <= train.images.min() and train.images.max() <= 1.0
    # well-known class counts of the official MNIST training set
    counts = torch.bincount(train.labels, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]


def test_real_fashion_mnist(fashion_mnist):
    train, test = fashion_mnist
    assert len(train) == 60000 and len(test) == 10000
    assert torch.bincount(train.labels).tolist() == [6000] * 10


# ---------- multi-task splits ----------

def _toy_source(n=50) -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    return ImageDataset(torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10, "toy")


def test_multi_mnist_is_deterministic_and_labels_follow_positions():
    src = _toy_source()
    a, b = multi_mnist(src, 20, seed=3), multi_mnist(src, 20, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.y, multi_mnist(src, 20, seed=4).y)
    assert a.x.shape == (20, 1, 28, 28) and a.task_names == ("left", "right")

    # one white pixel per digit: the left digit's pixel lands in the top-left, the right's in the bottom-right
    images = torch.zeros(10, 1, 28, 28)
    images[:, 0, 0, 0] = 1.0
    one = ImageDataset(images, torch.arange(10), "dots")
    mm = multi_mnist(one, 10, seed=0, canvas=36, out_size=36)  # no resize: positions are exact
    assert torch.all(mm.x[:, 0, 0, 0] == 1.0) and torch.all(mm.x[:, 0, 8, 8] == 1.0)
    assert mm.x.sum().item() == 20.0


def test_multi_mnist_on_real_mnist_label_semantics(mnist):
    _, test = mnist
    mm = multi_mnist(test, 500, seed=0)
    assert mm.y.min() >= 0 and mm.y.max() <= 9
    # the left label is a permutation draw: the first n left labels are distinct images of the test set
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(test), generator=gen)[:500]
    assert torch.equal(mm.y[:, 0], test.labels[perm])


def test_mnist_mtl_sizes_and_semantics(mnist):
    train, test = mnist
    tr, te = mnist_mtl(train, test, seed=0)
    assert len(tr) == 100_000 and len(te) == 2_000  # Rosenbaum et al. 2018, §4
    for t in range(10):
        part = tr.of_task(t)
        assert len(part) == 10_000 and int(part.y.sum()) == 1_000
        assert len(te.of_task(t)) == 200 and int(te.of_task(t).y.sum()) == 20
    # a positive of task t is a digit t (check via pixel identity against the source images)
    pos = tr.of_task(3)
    x_pos = pos.x[pos.y == 1][:5]
    src3 = train.images[train.labels == 3]
    assert all(any(torch.equal(x, s) for s in src3[:6000]) for x in x_pos)
    # the one-vs-rest test set has a 90% majority baseline
    assert int((te.y == 0).sum()) == 1800


def test_mnist_mtl_errors(mnist):
    train, test = mnist
    with pytest.raises(ValueError, match="multiple of 10"):
        mnist_mtl(train, test, n_test_per_task=15)
    with pytest.raises(ValueError, match="need 9999 images of digit"):
        mnist_mtl(train, test, n_pos=9999)


def test_split_indices_partition():
    a, b, c = split_indices(103, (0.6, 0.2, 0.2), seed=1)
    assert len(a) + len(b) + len(c) == 103
    assert sorted(torch.cat([a, b, c]).tolist()) == list(range(103))
    with pytest.raises(ValueError):
        split_indices(10, (0.5, 0.6))


def test_first_tasks_keeps_the_samples_of_the_first_n_tasks_in_order():
    x = torch.arange(6.0).reshape(6, 1, 1, 1)
    data = TaskData(x, torch.tensor([1, 0, 1, 0, 1, 1]), torch.tensor([2, 0, 1, 0, 2, 1]), ("a", "b", "c"))
    two = data.first_tasks(2)
    assert two.task_names == ("a", "b") and two.n_tasks == 2
    assert two.x.flatten().tolist() == [1.0, 2.0, 3.0, 5.0]      # samples of tasks 0 and 1, in their order
    assert two.y.tolist() == [0, 1, 0, 1] and two.task.tolist() == [0, 1, 0, 1]
    assert data.first_tasks(3).x.flatten().tolist() == x.flatten().tolist()
    for bad in (0, 4):
        with pytest.raises(ValueError, match="n must lie between 1 and 3"):
            data.first_tasks(bad)
