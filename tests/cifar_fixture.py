"""Write tiny CIFAR archives in the official on-disk format (pickled dicts inside a tar.gz) for tests."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def _add(tar: tarfile.TarFile, name: str, obj: dict) -> None:
    payload = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def write_cifar100_fixture(path: Path, n_train: int = 10, n_test: int = 5, seed: int = 0) -> Path:
    """A cifar-100-python.tar.gz with ``n_train``/``n_test`` random images; fine label i has coarse label i // 5."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("train", n_train), ("test", n_test)):
            fine = rng.integers(0, 100, n).tolist()
            _add(tar, f"cifar-100-python/{split}", {
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": fine,
                "coarse_labels": [f // 5 for f in fine], "filenames": [f"img{i}.png" for i in range(n)]})
        _add(tar, "cifar-100-python/meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                                            "coarse_label_names": [f"coarse{i}" for i in range(20)]})
    return path


def write_cifar10_fixture(path: Path, n_per_batch: int = 4, n_test: int = 5, seed: int = 0) -> Path:
    """A cifar-10-python.tar.gz with five tiny training batches and a test batch."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            _add(tar, f"cifar-10-batches-py/data_batch_{i}", {
                "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                "labels": rng.integers(0, 10, n_per_batch).tolist()})
        _add(tar, "cifar-10-batches-py/test_batch", {
            "data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, n_test).tolist()})
        _add(tar, "cifar-10-batches-py/batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return path
