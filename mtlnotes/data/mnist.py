"""MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao et al., 2017) from their official ``.gz`` IDX files.

Checksums are the official ones (torchvision's ``MNIST.resources`` / ``FashionMNIST.resources`` md5s, plus
sha256 of the same files).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from mtlnotes.data.cache import RemoteFile, fetch
from mtlnotes.data.idx import read_idx
from mtlnotes.data.images import ImageDataset

__all__ = ["ImageDataset", "MNIST_FILES", "FASHION_MNIST_FILES", "FASHION_MNIST_CLASSES", "load_mnist",
           "load_fashion_mnist"]

_MNIST_URLS = ("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _files(dataset: str, bases: tuple[str, ...], table: dict[str, tuple[str, str, int]], how: str):
    return {
        name: RemoteFile(dataset, name, tuple(b + name for b in bases), md5=md5, sha256=sha, size=size, how_to_get=how)
        for name, (md5, sha, size) in table.items()
    }


MNIST_FILES = _files("mnist", _MNIST_URLS, {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432",
                                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3",
                                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c",
                                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
}, "MNIST by Y. LeCun, C. Cortes, C. J. C. Burges (CC BY-SA 3.0).")

FASHION_MNIST_FILES = _files("fashion_mnist", _FASHION_URLS, {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                   "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe",
                                   "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79",
                                  "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310",
                                  "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
}, "Fashion-MNIST by Zalando Research (MIT licence), github.com/zalandoresearch/fashion-mnist.")

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


def _load(files: dict[str, RemoteFile], split: str, root, download: bool, name: str) -> ImageDataset:
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images = read_idx(fetch(files[f"{prefix}-images-idx3-ubyte.gz"], root, download))
    labels = read_idx(fetch(files[f"{prefix}-labels-idx1-ubyte.gz"], root, download))
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{name} {split}: unexpected IDX shapes {images.shape} / {labels.shape}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(x, y, f"{name}-{split}")


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageDataset:
    """MNIST ``split`` ("train": 60k, "test": 10k) from the verified official files in the cache."""
    return _load(MNIST_FILES, split, root, download, "mnist")


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       download: bool = True) -> ImageDataset:
    """Fashion-MNIST ``split`` ("train": 60k, "test": 10k) from the verified official files in the cache."""
    return _load(FASHION_MNIST_FILES, split, root, download, "fashion_mnist")
