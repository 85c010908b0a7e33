"""DRIVE retinal vessel images (Staal et al., IEEE TMI 2004), GLUNet's vessel set (§4.1, Table 3).

DRIVE's terms allow use only to those who obtained it from the official site
(https://drive.grand-challenge.org/) and forbid redistribution, so it is not in the shared data; put the unpacked
official archive under ``$MTLNOTES_DATA/drive/DRIVE``. Official layout::

    DRIVE/training/images/21_training.tif … 40_training.tif        RGB, 565×584
    DRIVE/training/1st_manual/21_manual1.gif                       vessel annotation (255 = vessel)
    DRIVE/training/mask/21_training_mask.gif                       field-of-view mask
    DRIVE/test/images/01_test.tif … 20_test.tif, test/1st_manual/01_manual1.gif, test/mask/01_test_mask.gif

GLUNet uses the first annotation ("1st_manual") as ground truth. No official checksums exist, so the files are
verified for structure: 20 images per split with the official names, each with its annotation and FOV mask of
the same size (565×584 for the official set).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import DataError, DataMissingError, cache_dir

__all__ = ["DriveSplit", "load_drive", "HOW_TO_GET"]

HOW_TO_GET = ("DRIVE cannot be redistributed: register at https://drive.grand-challenge.org/, download DRIVE.zip "
              "and unpack it so that $MTLNOTES_DATA/drive/DRIVE/training and .../test exist.")
OFFICIAL_SIZE = (584, 565)  # (H, W)
OFFICIAL_IDS = {"training": range(21, 41), "test": range(1, 21)}


@dataclass
class DriveSplit:
    """Images (N, 3, H, W) uint8, vessels (N, H, W) bool (1st manual), field of view (N, H, W) bool, ids."""

    images: np.ndarray
    vessels: np.ndarray
    fov: np.ndarray
    ids: list[int]


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        raise DataMissingError(f"{path} is missing. {HOW_TO_GET}")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB") if path.suffix == ".tif" else im.convert("L"))


def load_drive(split: str, root: str | os.PathLike | None = None, *, strict: bool = True) -> DriveSplit:
    """One DRIVE split (``"training"`` or ``"test"``) from the official layout.

    ``strict`` (default) also requires the official 20 ids and 565×584 size; fixtures pass ``strict=False``.
    """
    if split not in OFFICIAL_IDS:
        raise ValueError(f"split must be 'training' or 'test', got {split!r}")
    base = cache_dir(root) / "drive" / "DRIVE" / split
    if not (base / "images").is_dir():
        raise DataMissingError(f"{base / 'images'} is missing. {HOW_TO_GET}")
    ids = []
    for p in sorted((base / "images").glob("*.tif")):
        m = re.fullmatch(rf"(\d+)_{split}\.tif", p.name)
        if not m:
            raise DataError(f"{p}: unexpected name; DRIVE images are named NN_{split}.tif")
        ids.append(int(m.group(1)))
    if strict and ids != list(OFFICIAL_IDS[split]):
        raise DataError(f"{base / 'images'}: expected the 20 official images {OFFICIAL_IDS[split].start}–"
                        f"{OFFICIAL_IDS[split].stop - 1}, found {len(ids)}. {HOW_TO_GET}")
    if not ids:
        raise DataMissingError(f"no images under {base / 'images'}. {HOW_TO_GET}")
    images, vessels, fovs = [], [], []
    for i in ids:
        img = _read(base / "images" / f"{i:02d}_{split}.tif")
        ves = _read(base / "1st_manual" / f"{i:02d}_manual1.gif")
        fov = _read(base / "mask" / f"{i:02d}_{split}_mask.gif")
        if strict and img.shape[:2] != OFFICIAL_SIZE:
            raise DataError(f"image {i:02d}_{split}.tif is {img.shape[1]}x{img.shape[0]}, DRIVE images are 565x584")
        for what, arr in (("1st_manual", ves), ("mask", fov)):
            if arr.shape != img.shape[:2]:
                raise DataError(f"image {i:02d}_{split}: its {what} is {arr.shape[1]}x{arr.shape[0]}, the image "
                                f"{img.shape[1]}x{img.shape[0]} (a mask of the wrong size)")
        images.append(img.transpose(2, 0, 1))
        vessels.append(ves > 127)
        fovs.append(fov > 127)
    return DriveSplit(np.stack(images), np.stack(vessels), np.stack(fovs), ids)
