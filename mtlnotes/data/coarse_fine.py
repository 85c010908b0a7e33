"""A coarse primary task with a human-labelled fine auxiliary task, built from real MNIST or Fashion-MNIST.

CIFAR-100's 20 superclasses of 5 classes each are RL-AUX's (Goldfeder, So & Lipson, §4, Table 1) and MAXL's
benchmark: the superclass is the primary label and the fine class is the "human" auxiliary label. The same
structure is built here from the 10 classes of Fashion-MNIST (or MNIST) grouped into coarse classes of psi fine
classes each. The auxiliary label of an image is ``psi * coarse + position of its class in its group``, which is
exactly the support of the masked softmax (Eqs. 5–6), so human and generated labels live in the same space.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from mtlnotes.data.mnist import load_fashion_mnist, load_mnist

__all__ = ["FASHION_MNIST_GROUPS", "FASHION_MNIST_COARSE_NAMES", "MNIST_GROUPS", "MNIST_COARSE_NAMES",
           "CoarseFineData", "coarse_fine_task", "load_coarse_fine"]

#: Fashion-MNIST classes (0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
#: 8 Bag, 9 Ankle boot) in five coarse classes of two.
FASHION_MNIST_GROUPS = ((0, 6), (2, 4), (5, 7), (1, 3), (8, 9))
FASHION_MNIST_COARSE_NAMES = ("light tops", "warm tops", "low shoes", "trousers & dresses", "bags & boots")
#: MNIST digits in five pairs of similar-looking digits.
MNIST_GROUPS = ((4, 9), (3, 5), (1, 7), (0, 6), (2, 8))
MNIST_COARSE_NAMES = ("4/9", "3/5", "1/7", "0/6", "2/8")


@dataclass(frozen=True)
class CoarseFineData:
    """images (N, C, H, W) float32; coarse (N,) primary labels in [0, C); aux (N,) human auxiliary labels in
    [0, psi*C) with ``aux // psi == coarse``; fine (N,) the original class ids; the grouping used."""

    images: torch.Tensor
    coarse: torch.Tensor
    aux: torch.Tensor
    fine: torch.Tensor
    groups: tuple[tuple[int, ...], ...]
    coarse_names: tuple[str, ...]

    @property
    def psi(self) -> int:
        return len(self.groups[0])

    @property
    def n_primary(self) -> int:
        return len(self.groups)

    def __len__(self) -> int:
        return int(self.coarse.shape[0])

    def subset(self, idx: torch.Tensor) -> "CoarseFineData":
        """The rows ``idx`` (a LongTensor of indices)."""
        return CoarseFineData(self.images[idx], self.coarse[idx], self.aux[idx], self.fine[idx], self.groups,
                              self.coarse_names)


def _check_groups(groups, n_classes: int | None = None) -> int:
    if not groups:
        raise ValueError("need at least one coarse group")
    psi = len(groups[0])
    if psi < 1 or any(len(g) != psi for g in groups):
        raise ValueError(f"every coarse group needs the same number psi of fine classes, got sizes "
                         f"{[len(g) for g in groups]}")
    flat = [c for g in groups for c in g]
    if len(set(flat)) != len(flat):
        raise ValueError(f"a fine class appears in more than one group: {groups}")
    if n_classes is not None and sorted(flat) != list(range(n_classes)):
        raise ValueError(f"groups must cover the fine classes 0..{n_classes - 1} exactly once, got {sorted(flat)}")
    return psi


def coarse_fine_task(images: torch.Tensor, labels: torch.Tensor, groups: tuple[tuple[int, ...], ...],
                     coarse_names: tuple[str, ...] | None = None) -> CoarseFineData:
    """Group fine ``labels`` (N,) into coarse classes: ``groups[c]`` lists the fine classes of coarse class c."""
    psi = _check_groups(groups)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    lookup = torch.full((int(max(c for g in groups for c in g)) + 1,), -1, dtype=torch.long)
    for c, group in enumerate(groups):
        for j, fine in enumerate(group):
            lookup[fine] = c * psi + j
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(lookup)
                           or bool((lookup[labels] < 0).any())):
        missing = sorted(set(labels.tolist()) - {c for g in groups for c in g})
        raise ValueError(f"fine labels {missing} belong to no coarse group")
    aux = lookup[labels]
    names = tuple(coarse_names) if coarse_names is not None else tuple(str(c) for c in range(len(groups)))
    if len(names) != len(groups):
        raise ValueError(f"{len(names)} coarse names for {len(groups)} groups")
    return CoarseFineData(images, aux // psi, aux, labels.long(), tuple(tuple(g) for g in groups), names)


def load_coarse_fine(dataset: str = "fashion_mnist", split: str = "train", root: str | os.PathLike | None = None,
                     download: bool = True) -> CoarseFineData:
    """The coarse/fine task on real ``"fashion_mnist"`` or ``"mnist"`` (verified official files)."""
    if dataset == "fashion_mnist":
        data, groups, names = load_fashion_mnist(split, root, download), FASHION_MNIST_GROUPS, FASHION_MNIST_COARSE_NAMES
    elif dataset == "mnist":
        data, groups, names = load_mnist(split, root, download), MNIST_GROUPS, MNIST_COARSE_NAMES
    else:
        raise ValueError(f"unknown dataset {dataset!r}; use 'fashion_mnist' or 'mnist'")
    _check_groups(groups, 10)
    return coarse_fine_task(data.images, data.labels, groups, names)
