"""Kaggle "Finding and Measuring Lungs in CT Data" (K. Mader), GLUNet's lung set (§4.1, Table 1).

Not in the shared data (no verifiable copy could be obtained here); download it from
https://www.kaggle.com/datasets/kmader/finding-lungs-in-ct-data and put ``2d_images/`` and ``2d_masks/`` under
``$MTLNOTES_DATA/lung_ct/``. Official layout: 267 CT slices ``2d_images/ID_0000_Z_0142.tif`` (512×512, one channel)
and their lung masks under the same names in ``2d_masks/`` (0 = background, 255 = lung). No checksums are
published, so the files are verified for structure: every image has a mask of the same size and vice versa
(267 of 512×512 for the official set). The paper trains on 214 slices and tests on 53 (§4.1); which ones it does
not say, so :func:`lung_split` draws them with a seed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import DataError, DataMissingError, cache_dir

__all__ = ["LungCT", "load_lung_ct", "lung_split", "HOW_TO_GET", "N_TRAIN"]

HOW_TO_GET = ("download https://www.kaggle.com/datasets/kmader/finding-lungs-in-ct-data and unpack 2d_images/ and "
              "2d_masks/ into $MTLNOTES_DATA/lung_ct/")
N_TRAIN = 214  # §4.1: 214 training and 53 test images
_NAME = re.compile(r"ID_\d{4}_Z_\d{4}\.tif")


@dataclass
class LungCT:
    """CT slices (N, 1, H, W) float32 (raw intensities), lung masks (N, H, W) bool, file stems."""

    images: np.ndarray
    masks: np.ndarray
    names: list[str]


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def load_lung_ct(root: str | os.PathLike | None = None, *, strict: bool = True) -> LungCT:
    """All slices and masks; ``strict`` (default) also requires the official 267 slices of 512×512."""
    base = cache_dir(root) / "lung_ct"
    img_dir, mask_dir = base / "2d_images", base / "2d_masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise DataMissingError(f"{d} is missing: {HOW_TO_GET}")
    names = sorted(p.name for p in img_dir.glob("*.tif"))
    mask_names = sorted(p.name for p in mask_dir.glob("*.tif"))
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        raise DataError(f"{img_dir / bad[0]}: unexpected name; slices are named ID_0000_Z_0142.tif")
    if names != mask_names:
        missing = sorted(set(names) ^ set(mask_names))
        raise DataError(f"image {missing[0]} has no partner in {'2d_masks' if missing[0] in names else '2d_images'} "
                        f"({len(missing)} unpaired file(s))")
    if strict and len(names) != 267:
        raise DataError(f"{img_dir}: expected the 267 official slices, found {len(names)}. {HOW_TO_GET}")
    if not names:
        raise DataMissingError(f"no slices under {img_dir}: {HOW_TO_GET}")
    images, masks = [], []
    for n in names:
        img, mask = _read(img_dir / n), _read(mask_dir / n)
        if img.ndim != 2:
            raise DataError(f"image {n}: expected one channel, got shape {img.shape}")
        if mask.shape[:2] != img.shape:
            raise DataError(f"image {n}: its mask is {mask.shape[1]}x{mask.shape[0]}, the slice "
                            f"{img.shape[1]}x{img.shape[0]} (a mask of the wrong size)")
        if strict and img.shape != (512, 512):
            raise DataError(f"image {n} is {img.shape[1]}x{img.shape[0]}; the official slices are 512x512")
        images.append(img.astype(np.float32)[None])
        masks.append((mask if mask.ndim == 2 else mask[..., 0]) > 0)
    return LungCT(np.stack(images), np.stack(masks), [n[:-4] for n in names])


def lung_split(n: int, seed: int = 0, n_train: int = N_TRAIN) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices with ``n_train`` training slices (the paper's 214 / 53 of 267)."""
    if not 0 < n_train < n:
        raise ValueError(f"n_train must lie in (0, {n}), got {n_train}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])
