"""The multi-task datasets of Routing Networks (Rosenbaum, Klinger & Riemer, ICLR 2018, §4).

* MNIST-MTL — ten binary tasks "is it digit c?", each with ``n_pos`` positives and ``n_neg_per_digit`` of each
  other digit (1k each in §4), and ``n_test_per_task`` test samples (200 in §4): :func:`mtlnotes.data.mnist_mtl`.
* CIFAR-MTL — the 20 CIFAR-100 superclasses as 20 tasks of 5 classes: :mod:`mtlnotes.data.cifar_mtl`.
* MIN-MTL — 50 mini-ImageNet classes drawn with ``data_seed``, as 10 tasks of 5: :mod:`mtlnotes.data.miniimagenet`.
"""

from __future__ import annotations

import os

from mtlnotes.data import TaskData, load_mnist, mnist_mtl, mnist_mtl_validation

__all__ = ["load_routing_data", "load_routing_validation", "class_count"]


def load_routing_data(dataset: str, root: str | os.PathLike | None = None, *, data_seed: int = 0, n_pos: int = 1000,
                      n_neg_per_digit: int = 1000, n_test_per_task: int = 200) -> tuple[TaskData, TaskData]:
    """(train, test) TaskData of ``dataset`` ("mnist-mtl", "cifar-mtl" or "min-mtl"; all tasks have the same
    number of classes). The sizes are MNIST-MTL's; ``data_seed`` draws MNIST-MTL and MIN-MTL."""
    if dataset == "mnist-mtl":
        train, test = load_mnist("train", root), load_mnist("test", root)
        return mnist_mtl(train, test, data_seed, n_pos, n_neg_per_digit, n_test_per_task)
    if dataset == "cifar-mtl":
        from mtlnotes.data.cifar_mtl import cifar_mtl
        return cifar_mtl(root=root)
    if dataset == "min-mtl":
        from mtlnotes.data.miniimagenet import min_mtl
        return min_mtl(root=root, seed=data_seed)
    raise ValueError(f"unknown dataset {dataset!r}; choose mnist-mtl, cifar-mtl or min-mtl")


def load_routing_validation(dataset: str, root: str | os.PathLike | None = None, *, data_seed: int = 0,
                            n_pos: int = 1000, n_neg_per_digit: int = 1000, val_fraction: float = 0.1,
                            n_val_per_task: int = 1000) -> tuple[TaskData, TaskData]:
    """(train, validation) TaskData from disjoint parts of the training images, for choosing the routers'
    hyper-parameters without the test split (:func:`mtlnotes.data.mnist_mtl_validation`). MNIST-MTL only."""
    if dataset != "mnist-mtl":
        raise ValueError(f"a validation split is implemented for mnist-mtl only, got {dataset!r}")
    return mnist_mtl_validation(load_mnist("train", root), data_seed, val_fraction, n_pos, n_neg_per_digit,
                                n_val_per_task)


def class_count(data: TaskData) -> int:
    """Classes per task: one more than the largest label in ``data`` (labels are 0..C−1 in every task).

    >>> import torch
    >>> class_count(TaskData(torch.zeros(3, 1), torch.tensor([0, 1, 0]), torch.tensor([0, 0, 1]), ("a", "b")))
    2
    """
    return int(data.y.max()) + 1
