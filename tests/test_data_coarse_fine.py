"""The coarse-primary / fine-auxiliary task (mtlnotes.data.coarse_fine)."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.data.coarse_fine import (FASHION_MNIST_GROUPS, MNIST_GROUPS, coarse_fine_task, load_coarse_fine)


def test_hand_example():
    labels = torch.tensor([0, 6, 2, 4, 9, 8, 5])
    d = coarse_fine_task(torch.zeros(7, 1, 2, 2), labels, FASHION_MNIST_GROUPS)
    assert d.psi == 2 and d.n_primary == 5
    assert d.coarse.tolist() == [0, 0, 1, 1, 4, 4, 2]
    assert d.aux.tolist() == [0, 1, 2, 3, 9, 8, 4]
    assert (d.aux // d.psi).tolist() == d.coarse.tolist()
    sub = d.subset(torch.tensor([1, 4]))
    assert sub.fine.tolist() == [6, 9] and len(sub) == 2


def test_bad_groups_and_labels():
    x = torch.zeros(3, 1, 2, 2)
    with pytest.raises(ValueError, match="same number psi"):
        coarse_fine_task(x, torch.tensor([0, 1, 2]), ((0, 1), (2,)))
    with pytest.raises(ValueError, match="more than one group"):
        coarse_fine_task(x, torch.tensor([0, 1, 2]), ((0, 1), (1, 2)))
    with pytest.raises(ValueError, match=r"fine labels \[7\] belong to no coarse group"):
        coarse_fine_task(x, torch.tensor([0, 1, 7]), ((0, 1), (2, 3)))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_coarse_fine("kmnist")


@pytest.mark.parametrize("groups", [FASHION_MNIST_GROUPS, MNIST_GROUPS])
def test_predefined_groups_partition_ten_classes(groups):
    assert sorted(c for g in groups for c in g) == list(range(10))


def test_real_fashion_mnist(fashion_mnist, data_root):
    d = load_coarse_fine("fashion_mnist", "test", data_root, download=False)
    assert len(d) == 10_000 and d.images.shape == (10_000, 1, 28, 28)
    # Fashion-MNIST's test set has 1000 images per class, so 2000 per coarse class of two
    assert torch.bincount(d.coarse).tolist() == [2000] * 5
    assert torch.bincount(d.aux).tolist() == [1000] * 10
    assert torch.equal(d.aux // 2, d.coarse)
    # human label agrees with the original class through the grouping
    for c, group in enumerate(FASHION_MNIST_GROUPS):
        for j, fine in enumerate(group):
            assert bool((d.aux[d.fine == fine] == 2 * c + j).all())
