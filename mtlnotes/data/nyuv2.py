"""NYUv2 (Silberman et al., 2012) in the preprocessed form used by MTAN (Liu et al., 2019) and the Nash-MTL
experiments (Navon et al., 2022, §6.3): 795 training and 654 test images at 288×384, 13 semantic classes,
depth, and surface normals, stored as one NumPy file per image and modality::

    <root>/nyuv2/train/image/0.npy    (288, 384, 3) float, RGB in [0, 1]
    <root>/nyuv2/train/label/0.npy    (288, 384)    float, class 0..12, −1 = unlabelled
    <root>/nyuv2/train/depth/0.npy    (288, 384, 1) float, metres (0 = missing)
    <root>/nyuv2/train/normal/0.npy   (288, 384, 3) float, unit normals in [−1, 1] (0 = missing)
    <root>/nyuv2/val/...              the 654 test images, same layout

The folder comes from the MTAN repository's ``nyuv2.zip`` (no checksum is published, so the loader checks
counts, shapes and value ranges instead). Missing data raises :class:`DataMissingError` naming what to get.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import DataMissingError, cache_dir

__all__ = ["NYUV2_COUNTS", "NYUV2_SHAPE", "NYUV2_CLASSES", "NYUv2", "nyuv2_root", "HOW_TO_GET"]

NYUV2_COUNTS = {"train": 795, "val": 654}
NYUV2_SHAPE = (288, 384)
NYUV2_CLASSES = 13
MODALITIES = ("image", "label", "depth", "normal")
HOW_TO_GET = ("Download the preprocessed NYUv2 of MTAN (Liu et al., 2019), nyuv2.zip, linked from "
              "https://github.com/lorenmt/mtan, and unzip it so that <MTLNOTES_DATA>/nyuv2/train/image/0.npy exists.")


def nyuv2_root(root: str | os.PathLike | None = None) -> Path:
    """``<cache>/nyuv2`` if it has both splits with every modality folder, else :class:`DataMissingError`."""
    base = cache_dir(root) / "nyuv2"
    missing = [f"{split}/{m}" for split in NYUV2_COUNTS for m in MODALITIES if not (base / split / m).is_dir()]
    if missing:
        raise DataMissingError(f"NYUv2 is not in the data cache: missing folders {', '.join(missing)} under {base}.\n"
                               f"  {HOW_TO_GET}")
    return base


@dataclass
class NYUv2:
    """One split (``"train"`` or ``"val"``) of the preprocessed NYUv2. ``ds[i]`` returns
    (image (3, H, W) float32, label (H, W) int64 with −1 ignored, depth (1, H, W) float32, normal (3, H, W) float32).

    ``expected`` overrides the number of images (tests use tiny fixtures); by default the official counts and
    image size are enforced.
    """

    split: str = "train"
    root: str | os.PathLike | None = None
    expected: int | None = None
    shape: tuple[int, int] = NYUV2_SHAPE

    def __post_init__(self) -> None:
        if self.split not in NYUV2_COUNTS:
            raise ValueError(f"split must be 'train' or 'val', got {self.split!r}")
        self.base = nyuv2_root(self.root) / self.split
        n = NYUV2_COUNTS[self.split] if self.expected is None else self.expected
        for m in MODALITIES:
            have = len(list((self.base / m).glob("*.npy")))
            if have != n:
                raise ValueError(f"{self.base / m}: expected {n} .npy files, found {have}; re-extract nyuv2.zip")
        self.n = n

    def __len__(self) -> int:
        return self.n

    def _load(self, modality: str, i: int) -> np.ndarray:
        path = self.base / modality / f"{i}.npy"
        if not path.exists():
            raise DataMissingError(f"{path} is missing; files must be numbered 0..{self.n - 1}")
        return np.load(path)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} images")
        h, w = self.shape
        image, label = self._load("image", i), self._load("label", i)
        depth, normal = self._load("depth", i), self._load("normal", i)
        for name, arr, shape in (("image", image, (h, w, 3)), ("label", label, (h, w)), ("depth", depth, (h, w, 1)),
                                 ("normal", normal, (h, w, 3))):
            if arr.shape != shape:
                raise ValueError(f"{self.split}/{name}/{i}.npy has shape {arr.shape}, expected {shape}")
        lab = np.rint(label).astype(np.int64)
        if lab.min() < -1 or lab.max() >= NYUV2_CLASSES:
            raise ValueError(f"{self.split}/label/{i}.npy has classes outside −1..{NYUV2_CLASSES - 1}")
        to_chw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))  # noqa: E731
        return to_chw(image), torch.from_numpy(lab), to_chw(depth), to_chw(normal)
