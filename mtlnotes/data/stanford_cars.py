"""Stanford Cars / Car196 (Krause et al., 2013) from its official files, with Make and Type label structures.

Official files (md5s as published with the dataset and used by torchvision):

* ``car_devkit.tgz`` — ``devkit/cars_meta.mat`` (``class_names``, 1×196 cell) and ``devkit/cars_train_annos.mat``
  (``annotations`` struct array: ``bbox_x1, bbox_y1, bbox_x2, bbox_y2, class`` (1-based), ``fname``);
* ``cars_train.tgz`` / ``cars_test.tgz`` — JPEGs ``cars_train/00001.jpg`` …;
* ``cars_test_annos_withlabels.mat`` — the test annotations with ``class``.

Images are read straight from the verified archives (nothing is extracted), optionally cropped to the box,
resized to ``image_size``² and returned as uint8. The dataset is not available offline here; the paper
profile of the MMF chapter needs it.

Label structures (MMF §4.1 uses "Make" (49) and "Type" (18)): the make is the leading word of the class name
(three makes have two words). The paper does not say how its 18 types were defined; :func:`car_type` is our
rule — the body-style phrase in the class name (``"Crew Cab"``, ``"SUV"``, ``"Convertible"``, …) or
``"Other"`` when the name has none — and may give a different count.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import RemoteFile, fetch

__all__ = ["CARS_FILES", "CarsData", "car_make", "car_type", "read_cars_meta", "read_cars_annotations",
           "read_cars_images", "load_stanford_cars"]

_HOW = ("Stanford Cars by J. Krause et al. (https://ai.stanford.edu/~jkrause/cars/car_dataset.html); the original "
        "host is offline, so obtain the four official files from a mirror and check their md5.")
CARS_FILES = {
    "devkit": RemoteFile("stanford_cars", "car_devkit.tgz", ("https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",),
                         md5="c3b158d763b6e2245038c8ad08e45376", how_to_get=_HOW),
    "train": RemoteFile("stanford_cars", "cars_train.tgz", ("https://ai.stanford.edu/~jkrause/car196/cars_train.tgz",),
                        md5="065e5b463ae28d29e77c1b4b166cfe61", how_to_get=_HOW),
    "test": RemoteFile("stanford_cars", "cars_test.tgz", ("https://ai.stanford.edu/~jkrause/car196/cars_test.tgz",),
                       md5="4ce7ebf6a94d07f1952d94dd34c4d501", how_to_get=_HOW),
    "test_annos": RemoteFile("stanford_cars", "cars_test_annos_withlabels.mat",
                             ("https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",),
                             md5="b0a2b23655a3edd16d84508592a98d10", how_to_get=_HOW),
}

_TWO_WORD_MAKES = ("AM General", "Aston Martin", "Land Rover")
_BODY_TYPES = ("Extended Cab", "Crew Cab", "Regular Cab", "Quad Cab", "Club Cab", "Cargo Van", "Passenger Van",
               "Minivan", "Van", "SUV", "Sedan", "Coupe", "Convertible", "Hatchback", "Wagon", "Cab")


def car_make(name: str) -> str:
    """The make of a Stanford Cars class name, e.g. ``"Aston Martin V8 Vantage Coupe 2012"`` → ``"Aston Martin"``."""
    for make in _TWO_WORD_MAKES:
        if name.startswith(make + " "):
            return make
    return name.split(" ", 1)[0]


def car_type(name: str) -> str:
    """Our body-type rule: the first body-style phrase found in the name (longest phrases first), else "Other"."""
    words = name.split()
    body = " ".join(words[:-1]) if words and words[-1].isdigit() else name
    padded = f" {body} "
    for t in _BODY_TYPES:
        if f" {t} " in padded:
            return t
    return "Other"


@dataclass(frozen=True)
class CarsData:
    """images (N, 3, S, S) uint8; labels (N,) int64 in 0..195; class names; per-class make and type names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def makes(self) -> tuple[str, ...]:
        return tuple(car_make(c) for c in self.classes)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(car_type(c) for c in self.classes)


def _loadmat(data: bytes | str | os.PathLike, what: str) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(io.BytesIO(data) if isinstance(data, bytes) else data, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for a non-MAT file
        raise ValueError(f"{what} is not a readable MATLAB file: {exc}") from None


def _member(tar: tarfile.TarFile, name: str, archive: Path) -> bytes:
    try:
        return tar.extractfile(name).read()
    except (KeyError, AttributeError):
        raise ValueError(f"{archive}: member {name!r} missing; not the official Stanford Cars archive") from None


def read_cars_meta(devkit: str | os.PathLike) -> tuple[str, ...]:
    """The 196 class names from ``devkit/cars_meta.mat`` inside ``car_devkit.tgz``."""
    devkit = Path(devkit)
    with tarfile.open(devkit, "r:gz") as tar:
        meta = _loadmat(_member(tar, "devkit/cars_meta.mat", devkit), f"{devkit}:devkit/cars_meta.mat")
    if "class_names" not in meta:
        raise ValueError(f"{devkit}: cars_meta.mat has no 'class_names'")
    return tuple(str(n) for n in np.atleast_1d(meta["class_names"]))


def read_cars_annotations(source: bytes | str | os.PathLike, what: str = "annotations") -> list[dict]:
    """``annotations`` of a Stanford Cars .mat file as dicts with ``fname``, ``label`` (0-based), ``bbox``."""
    mat = _loadmat(source, what)
    if "annotations" not in mat:
        raise ValueError(f"{what} has no 'annotations' struct")
    ann = np.atleast_1d(mat["annotations"])
    fields = ann.dtype.names or ()
    if "class" not in fields or "fname" not in fields:
        raise ValueError(f"{what}: annotations lack 'class' or 'fname' (test annotations need the _withlabels file)")
    return [{"fname": str(a["fname"]), "label": int(a["class"]) - 1,
             "bbox": tuple(int(a[k]) for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"))} for a in ann]


def read_cars_images(archive: str | os.PathLike, folder: str, annotations: list[dict], image_size: int,
                     crop_to_box: bool = False) -> torch.Tensor:
    """Decode the annotated JPEGs of ``archive`` (``folder/<fname>``) to (N, 3, S, S) uint8."""
    from PIL import Image

    archive = Path(archive)
    out = torch.empty(len(annotations), 3, image_size, image_size, dtype=torch.uint8)
    index = {a["fname"]: i for i, a in enumerate(annotations)}
    found: set[str] = set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            name = member.name.split("/", 1)[-1] if member.name.startswith(folder + "/") else None
            if name is None or name not in index:
                continue
            a = annotations[index[name]]
            img = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            if crop_to_box:
                x1, y1, x2, y2 = a["bbox"]
                img = img.crop((x1, y1, x2 + 1, y2 + 1))
            img = img.resize((image_size, image_size), Image.BILINEAR)
            out[index[name]] = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
            found.add(name)
    missing = sorted(set(index) - found)
    if missing:
        raise ValueError(f"{archive}: {len(missing)} annotated images missing from {folder}/ (e.g. {missing[0]})")
    return out


def load_stanford_cars(split: str = "train", image_size: int = 224, crop_to_box: bool = False,
                       root: str | os.PathLike | None = None, download: bool = True) -> CarsData:
    """Car196 ``split`` ("train": 8,144 images, "test": 8,041) from the verified official files."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    devkit = fetch(CARS_FILES["devkit"], root, download)
    classes = read_cars_meta(devkit)
    if split == "train":
        with tarfile.open(devkit, "r:gz") as tar:
            annotations = read_cars_annotations(_member(tar, "devkit/cars_train_annos.mat", devkit),
                                                f"{devkit}:devkit/cars_train_annos.mat")
    else:
        path = fetch(CARS_FILES["test_annos"], root, download)
        annotations = read_cars_annotations(path, str(path))
    bad = [a["label"] for a in annotations if not 0 <= a["label"] < len(classes)]
    if bad:
        raise ValueError(f"class id {bad[0] + 1} out of range for {len(classes)} classes in the {split} annotations")
    images = read_cars_images(fetch(CARS_FILES[split], root, download), f"cars_{split}", annotations, image_size,
                              crop_to_box)
    labels = torch.tensor([a["label"] for a in annotations], dtype=torch.int64)
    return CarsData(images, labels, classes)
