"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) from the official "python version" archives.

The archives (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``) hold pickled dicts with ``data``
(N, 3072) uint8 in channel-major order and ``labels`` (CIFAR-10) or ``fine_labels`` / ``coarse_labels``
(CIFAR-100). They are read straight from the verified archive; nothing is extracted.
Neither archive is available offline in this project's shared data; paper-profile runs need them.
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import RemoteFile, fetch
from mtlnotes.data.images import ImageDataset

__all__ = ["CIFAR10_ARCHIVE", "CIFAR100_ARCHIVE", "CifarData", "read_cifar_archive", "load_cifar10", "load_cifar100"]

CIFAR10_ARCHIVE = RemoteFile(
    "cifar10", "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    md5="c58f30108f718f92721af3b95e74349a", size=170498071,
    how_to_get="Download the CIFAR-10 python version from https://www.cs.toronto.edu/~kriz/cifar.html.")
CIFAR100_ARCHIVE = RemoteFile(
    "cifar100", "cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
    md5="eb9058c3a382ffc7106e4002c42a8d85", size=169001437,
    how_to_get="Download the CIFAR-100 python version from https://www.cs.toronto.edu/~kriz/cifar.html.")

_MEMBERS = {
    "cifar10": {"train": [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)],
                "test": ["cifar-10-batches-py/test_batch"], "meta": "cifar-10-batches-py/batches.meta"},
    "cifar100": {"train": ["cifar-100-python/train"], "test": ["cifar-100-python/test"],
                 "meta": "cifar-100-python/meta"},
}


#: the loaders' return type before the one image container (kept as a name)
CifarData = ImageDataset


def _unpickle(tar: tarfile.TarFile, name: str, archive: Path) -> dict:
    try:
        member = tar.extractfile(name)
    except KeyError:
        raise ValueError(f"{archive}: member {name!r} missing; not an official CIFAR python archive") from None
    return pickle.load(member, encoding="latin1")


def read_cifar_archive(archive: str | os.PathLike, kind: str, split: str) -> ImageDataset:
    """Parse an official CIFAR python archive (no checksum check: use :func:`load_cifar10` / ``100`` for that)."""
    if kind not in _MEMBERS:
        raise ValueError(f"kind must be 'cifar10' or 'cifar100', got {kind!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    archive = Path(archive)
    with tarfile.open(archive, "r:gz") as tar:
        batches = [_unpickle(tar, m, archive) for m in _MEMBERS[kind][split]]
        meta = _unpickle(tar, _MEMBERS[kind]["meta"], archive)
    data = np.concatenate([b["data"] for b in batches]).astype(np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{archive}: expected rows of 3072 bytes, got {data.shape}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    if kind == "cifar10":
        labels = torch.tensor(np.concatenate([b["labels"] for b in batches]), dtype=torch.int64)
        return ImageDataset(images, labels, f"cifar10-{split}", classes=tuple(meta["label_names"]))
    fine = torch.tensor(np.concatenate([b["fine_labels"] for b in batches]), dtype=torch.int64)
    coarse = torch.tensor(np.concatenate([b["coarse_labels"] for b in batches]), dtype=torch.int64)
    return ImageDataset(images, fine, f"cifar100-{split}", classes=tuple(meta["fine_label_names"]), coarse=coarse,
                        coarse_classes=tuple(meta["coarse_label_names"]))


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageDataset:
    """CIFAR-10 ``split`` (50k / 10k) from the verified official archive in the cache."""
    return read_cifar_archive(fetch(CIFAR10_ARCHIVE, root, download), "cifar10", split)


def load_cifar100(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageDataset:
    """CIFAR-100 ``split`` (50k / 10k; 100 fine classes in 20 superclasses) from the verified official archive."""
    return read_cifar_archive(fetch(CIFAR100_ARCHIVE, root, download), "cifar100", split)
