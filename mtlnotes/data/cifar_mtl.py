"""CIFAR-MTL (Rosenbaum et al., 2018, §4, Table 1): CIFAR-100 as 20 tasks, one per coarse label (superclass);
the label within a task is the fine label's position (0–4) among the superclass's five fine classes.
Each task has all 2,500 training and 500 test images of its superclass (50k / 10k in all)."""

from __future__ import annotations

import os

import torch

from mtlnotes.data.cifar import CifarData, load_cifar100
from mtlnotes.data.multitask import TaskData

__all__ = ["cifar_mtl_split", "cifar_mtl"]


def cifar_mtl_split(data: CifarData) -> TaskData:
    """CIFAR-100 ``data`` (with coarse labels) → TaskData with task = coarse label, y = fine label's rank (0–4)
    within its superclass (ranks ordered by fine-label id). x (N, 3, 32, 32)."""
    if data.coarse is None or data.coarse_classes is None:
        raise ValueError("CIFAR-MTL needs CIFAR-100 (coarse labels); got a dataset without them")
    n_coarse = len(data.coarse_classes)
    fine_of = {}
    for f, c in zip(data.labels.tolist(), data.coarse.tolist()):
        if fine_of.setdefault(f, c) != c:
            raise ValueError(f"fine label {f} appears under two coarse labels ({fine_of[f]} and {c})")
    if len(fine_of) != len(data.classes):
        raise ValueError(f"CIFAR-MTL needs images of all {len(data.classes)} fine labels to rank them within their "
                         f"superclasses; only {len(fine_of)} occur")
    rank = torch.full((len(data.classes),), -1, dtype=torch.int64)
    for c in range(n_coarse):
        for r, f in enumerate(sorted(f for f, cc in fine_of.items() if cc == c)):
            rank[f] = r
    return TaskData(data.images, rank[data.labels], data.coarse.clone(), tuple(data.coarse_classes))


def cifar_mtl(root: str | os.PathLike | None = None, download: bool = True) -> tuple[TaskData, TaskData]:
    """(train, test) CIFAR-MTL from the verified official ``cifar-100-python.tar.gz`` in the data cache."""
    return (cifar_mtl_split(load_cifar100("train", root, download)),
            cifar_mtl_split(load_cifar100("test", root, download)))
