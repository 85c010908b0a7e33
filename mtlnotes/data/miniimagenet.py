"""mini-ImageNet (Vinyals et al., 2016) in the split of Ravi & Larochelle (2017), and MIN-MTL (Rosenbaum et
al., 2018, §4): 50 random labels, 10 disjoint tasks of 5 labels each.

On-disk format (the one used by the few-shot literature): a folder ``<cache>/mini_imagenet/`` holding
``train.csv``, ``val.csv``, ``test.csv`` (header ``filename,label``; 64 / 16 / 20 classes, 600 images each;
from github.com/twitter/meta-learning-lstm, ``data/miniImagenet/``) and ``images/<filename>``, the 84×84
JPEG images cut from ImageNet (ILSVRC-2012 train) with Ravi & Larochelle's script. No checksum of the image
folder is published, so it is checked for structure (600 images per class, 84×84 RGB), not bytes.

Deviation: the paper gives 800 training and 50 test images per label, but mini-ImageNet has 600 images per
class; by default we use 550 / 50.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from mtlnotes.data.cache import DataMissingError, cache_dir
from mtlnotes.data.multitask import TaskData

__all__ = ["MINI_IMAGENET_HOWTO", "read_mini_imagenet_csv", "min_mtl"]

MINI_IMAGENET_HOWTO = (
    "mini-ImageNet is not downloadable as one verified file. Get train.csv, val.csv and test.csv from "
    "https://github.com/twitter/meta-learning-lstm/tree/master/data/miniImagenet and build images/ (84x84 "
    "JPEGs) from the ILSVRC-2012 training set (https://image-net.org) with that repository's script; put them in "
    "{folder} (no published checksum exists; the loader checks 600 images per class and 84x84 RGB).")


def read_mini_imagenet_csv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Rows ``(filename, label)`` of a Ravi & Larochelle split file (header ``filename,label``)."""
    path = Path(path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or [h.strip() for h in rows[0]] != ["filename", "label"]:
        raise ValueError(f"{path}: not a mini-ImageNet split file (expected the header 'filename,label')")
    return [(r[0], r[1]) for r in rows[1:] if r]


def _load_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    if arr.shape != (size, size, 3):
        raise ValueError(f"{path}: expected a {size}x{size} RGB image, got shape {arr.shape}")
    return arr


def min_mtl(root: str | os.PathLike | None = None, seed: int = 0, n_labels: int = 50, labels_per_task: int = 5,
            n_train: int = 550, n_test: int = 50, image_size: int = 84) -> tuple[TaskData, TaskData]:
    """(train, test) MIN-MTL: ``n_labels`` classes drawn at random (seeded) from all mini-ImageNet classes,
    split into ``n_labels / labels_per_task`` disjoint tasks; per class ``n_train`` training and ``n_test`` test
    images (disjoint, drawn at random). y is the class's position within its task. x (N, 3, 84, 84) in [0, 1]."""
    folder = cache_dir(root) / "mini_imagenet"
    missing = [n for n in ("train.csv", "val.csv", "test.csv", "images") if not (folder / n).exists()]
    if missing:
        raise DataMissingError(f"mini-ImageNet files missing: {', '.join(str(folder / m) for m in missing)}.\n  "
                               + MINI_IMAGENET_HOWTO.format(folder=folder))
    if n_labels % labels_per_task:
        raise ValueError(f"n_labels ({n_labels}) must be a multiple of labels_per_task ({labels_per_task})")
    by_class: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        for fname, label in read_mini_imagenet_csv(folder / f"{split}.csv"):
            by_class.setdefault(label, []).append(fname)
    classes = sorted(by_class)
    if len(classes) < n_labels:
        raise ValueError(f"mini-ImageNet lists {len(classes)} classes; MIN-MTL needs {n_labels}")
    rng = np.random.default_rng(seed)
    chosen = [classes[i] for i in rng.permutation(len(classes))[:n_labels]]
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for j, label in enumerate(chosen):
        files = sorted(by_class[label])
        if len(files) < n_train + n_test:
            raise ValueError(f"class {label} has {len(files)} images; need {n_train} train + {n_test} test")
        pick = rng.permutation(len(files))
        for split, sel in (("train", pick[:n_train]), ("test", pick[n_train:n_train + n_test])):
            xs, ys, ts = parts[split]
            xs.extend(_load_image(folder / "images" / files[i], image_size) for i in sel)
            ys.extend([j % labels_per_task] * len(sel))
            ts.extend([j // labels_per_task] * len(sel))
    names = tuple("+".join(chosen[k:k + labels_per_task]) for k in range(0, n_labels, labels_per_task))

    def build(xs, ys, ts):
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
        return TaskData(x.contiguous(), torch.tensor(ys), torch.tensor(ts), names)

    return build(*parts["train"]), build(*parts["test"])
