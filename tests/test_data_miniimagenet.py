"""MIN-MTL from mini-ImageNet in the Ravi & Larochelle on-disk format, on a tiny fixture written under tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlnotes.data import DataMissingError
from mtlnotes.data.miniimagenet import min_mtl, read_mini_imagenet_csv


def _write_fixture(root, n_classes=8, per_class=6, size=84):
    from PIL import Image

    folder = root / "mini_imagenet"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {"train": range(0, 4), "val": range(4, 6), "test": range(6, n_classes)}
    for split, classes in splits.items():
        lines = ["filename,label"]
        for c in classes:
            wnid = f"n{c:08d}"
            for i in range(per_class):
                name = f"{wnid}{i:08d}.jpg"
                # a constant colour per class, so labels can be checked from pixels (JPEG keeps flat colours)
                Image.fromarray(np.full((size, size, 3), 20 * c + 10, dtype=np.uint8)).save(folder / "images" / name)
                lines.append(f"{name},{wnid}")
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_min_mtl_fixture(tmp_path):
    _write_fixture(tmp_path)
    train, test = min_mtl(tmp_path, seed=0, n_labels=6, labels_per_task=3, n_train=4, n_test=2)
    assert train.x.shape == (6 * 4, 3, 84, 84) and test.x.shape == (6 * 2, 3, 84, 84)
    assert train.n_tasks == 2 and sorted(set(train.y.tolist())) == [0, 1, 2]
    # each (task, label) pair is one class: its pixels are one constant colour, different between pairs
    colours = {}
    for t in range(2):
        for y in range(3):
            sel = (train.task == t) & (train.y == y)
            vals = train.x[sel].mean(dim=(1, 2, 3))
            assert sel.sum() == 4 and float(vals.max() - vals.min()) < 0.02
            colours[(t, y)] = round(float(vals[0]), 2)
    assert len(set(colours.values())) == 6
    # train and test images of a class are disjoint draws: 6 per class = 4 + 2, each used once
    again, _ = min_mtl(tmp_path, seed=0, n_labels=6, labels_per_task=3, n_train=4, n_test=2)
    assert torch.equal(again.x, train.x)  # deterministic given the seed


def test_min_mtl_missing_data_message_names_files_and_source(tmp_path):
    with pytest.raises(DataMissingError) as err:
        min_mtl(tmp_path)
    msg = str(err.value)
    assert "train.csv" in msg and "images" in msg and "meta-learning-lstm" in msg and "checksum" in msg


def test_min_mtl_bad_requests(tmp_path):
    _write_fixture(tmp_path)
    with pytest.raises(ValueError, match="multiple"):
        min_mtl(tmp_path, n_labels=5, labels_per_task=2)
    with pytest.raises(ValueError, match="needs 50"):
        min_mtl(tmp_path, n_labels=50)
    with pytest.raises(ValueError, match="need 10 train"):
        min_mtl(tmp_path, n_labels=4, labels_per_task=2, n_train=10, n_test=2)


def test_split_file_header_is_checked(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="filename,label"):
        read_mini_imagenet_csv(p)
