"""SVHN (Netzer et al., 2011), cropped-digit format, from the official ``{train,test,extra}_32x32.mat`` files.

Each file is a MATLAB (v5) file holding ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with labels 1..10, where 10
stands for the digit 0. They are read with :func:`scipy.io.loadmat` after checksum verification (torchvision's
md5s). The files are not in this project's offline data; paper-profile runs need them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import RemoteFile, fetch
from mtlnotes.data.images import ImageDataset

__all__ = ["SVHN_FILES", "SVHNData", "read_svhn_mat", "load_svhn"]

_HOW = "Download the cropped digits (format 2) from http://ufldl.stanford.edu/housenumbers/."
SVHN_FILES = {
    "train": RemoteFile("svhn", "train_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
                        md5="e26dedcc434d2e4c54c9b2d4a06d8373", size=182040794, how_to_get=_HOW),
    "test": RemoteFile("svhn", "test_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
                       md5="eb5a983be6a315427106f1b164d9cef3", size=64275384, how_to_get=_HOW),
    "extra": RemoteFile("svhn", "extra_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/extra_32x32.mat",),
                        md5="a93ce644f1a588dc4d68dda5feec44a7", how_to_get=_HOW),
}


#: the loader's return type before the one image container (kept as a name)
SVHNData = ImageDataset


def read_svhn_mat(path: str | os.PathLike) -> ImageDataset:
    """Parse an official SVHN ``*_32x32.mat`` file (no checksum check: :func:`load_svhn` does that)."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(path)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{path}: not a readable MATLAB file ({exc})") from None
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{path}: expected variables 'X' and 'y', found {sorted(k for k in mat if not k.startswith('__'))}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.shape[0]:
        raise ValueError(f"{path}: expected X (32, 32, 3, N) and y (N, 1), got {x.shape} and {mat['y'].shape}")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"{path}: labels must be 1..10 (10 = digit 0), got range [{y.min()}, {y.max()}]")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.float32) / 255.0)
    labels = torch.from_numpy((y.astype(np.int64) % 10))
    return ImageDataset(images, labels, f"svhn-{path.stem}", classes=tuple(str(d) for d in range(10)))


def load_svhn(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageDataset:
    """SVHN ``split`` ("train" 73,257, "test" 26,032, "extra" 531,131 images) from the verified official file."""
    if split not in SVHN_FILES:
        raise ValueError(f"split must be one of {sorted(SVHN_FILES)}, got {split!r}")
    return read_svhn_mat(fetch(SVHN_FILES[split], root, download))
