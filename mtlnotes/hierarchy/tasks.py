"""The datasets of the MMF experiments and their semantic label structures (Li et al., ICANN 2021, §4.1).

* Fashion-MNIST (ours, for the CPU quick profile): 10 classes and a semantic structure H_S defined here
  (:data:`FASHION_SEMANTIC`; the dataset ships no hierarchy).
* CIFAR-100: 100 classes, H_S = the dataset's 20 coarse classes (Tables 2–3).
* Car196 (Stanford Cars): 196 classes with the Type (H_T) and Make (H_M) structures (Tables 2–3).

:func:`load_hierarchy_task` returns a training/test subset and the semantic structures; the affinity structure
H_A is computed later from features (:mod:`mtlnotes.hierarchy.affinity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mtlnotes.data import FASHION_MNIST_CLASSES, load_fashion_mnist
from mtlnotes.data.cifar import load_cifar100
from mtlnotes.data.stanford_cars import car_make, car_type, load_stanford_cars
from mtlnotes.hierarchy.structures import LabelStructure, structure_from_groups, structure_from_labels
from mtlnotes.repro import torch_generator

__all__ = ["FASHION_SEMANTIC", "fashion_semantic_structure", "HierarchyTask", "subset_indices",
           "load_hierarchy_task"]

# H_S for Fashion-MNIST (ours; the dataset ships no hierarchy): by the body part an item is worn on.
FASHION_SEMANTIC = {
    "tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"],
    "bottoms & one-pieces": ["Trouser", "Dress"],
    "footwear": ["Sandal", "Sneaker", "Ankle boot"],
    "bags": ["Bag"],
}


def fashion_semantic_structure() -> LabelStructure:
    """The chapter's semantic structure H_S over the 10 Fashion-MNIST classes (4 superclasses)."""
    idx = {n: i for i, n in enumerate(FASHION_MNIST_CLASSES)}
    return structure_from_groups("H_S", {k: [idx[n] for n in v] for k, v in FASHION_SEMANTIC.items()},
                                 FASHION_MNIST_CLASSES)


@dataclass
class HierarchyTask:
    """Training/test tensors and the dataset's semantic structures."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    class_names: tuple[str, ...]
    semantic: dict[str, LabelStructure] = field(default_factory=dict)


def subset_indices(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """``n`` of ``range(n_total)`` drawn with ``seed``, sorted (all of them when ``n`` is None or ≥ ``n_total``).

    >>> subset_indices(5, None, 0).tolist()
    [0, 1, 2, 3, 4]
    >>> idx = subset_indices(10, 4, 0)
    >>> len(idx), bool((idx[1:] > idx[:-1]).all())
    (4, True)
    """
    if n is None or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch_generator(seed))[:n].sort().values


def load_hierarchy_task(dataset: str, n_train: int | None, n_test: int | None, image_size: int,
                        data_seed: int = 0) -> HierarchyTask:
    """``dataset`` ("fashion_mnist", "cifar100" or "cars196"; ``image_size`` is used by Car196 only), its
    training/test subsets of ``n_train`` / ``n_test`` images (None: all; drawn with ``data_seed`` and
    ``data_seed + 1``) and its semantic structures (H_S, or H_T and H_M for Car196)."""
    if dataset == "fashion_mnist":
        tr, te = load_fashion_mnist("train"), load_fashion_mnist("test")
        i, j = subset_indices(len(tr), n_train, data_seed), subset_indices(len(te), n_test, data_seed + 1)
        return HierarchyTask(tr.images[i], tr.labels[i], te.images[j], te.labels[j], 10, FASHION_MNIST_CLASSES,
                             {"H_S": fashion_semantic_structure()})
    if dataset == "cifar100":
        tr, te = load_cifar100("train"), load_cifar100("test")
        hs = structure_from_labels("H_S", tr.labels, tr.coarse, 100, tr.classes, tr.coarse_classes)
        i, j = subset_indices(len(tr), n_train, data_seed), subset_indices(len(te), n_test, data_seed + 1)
        return HierarchyTask(tr.images[i], tr.labels[i], te.images[j], te.labels[j], 100, tr.classes, {"H_S": hs})
    if dataset == "cars196":
        tr = load_stanford_cars("train", image_size)
        te = load_stanford_cars("test", image_size)
        structures = {}
        for name, rule in (("H_T", car_type), ("H_M", car_make)):
            groups: dict[str, list[int]] = {}
            for c, cname in enumerate(tr.classes):
                groups.setdefault(rule(cname), []).append(c)
            structures[name] = structure_from_groups(name, groups, tr.classes)
        i, j = subset_indices(len(tr), n_train, data_seed), subset_indices(len(te), n_test, data_seed + 1)
        return HierarchyTask(tr.images[i], tr.labels[i], te.images[j], te.labels[j], 196, tr.classes, structures)
    raise ValueError(f"unknown dataset {dataset!r}; choose fashion_mnist, cifar100 or cars196")
