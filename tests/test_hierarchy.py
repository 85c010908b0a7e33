"""Known-answer tests for mtlnotes.hierarchy: structures, metrics (Eqs. 3–6), affinity (Eqs. 1–2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from mtlnotes.hierarchy import (LabelStructure, affinity_matrix, affinity_structure, class_distances,
                                class_statistics, hierarchical_metrics, lca_height, spectral_superclasses,
                                structure_from_groups, structure_from_labels, tie_distance)

# A hand-drawn tree: root → {A: 0, 1, 2}, {B: 3, 4}, {C: 5}
TREE = structure_from_groups("hand", {"A": [0, 1, 2], "B": [3, 4], "C": [5]})
# A second structure over the same six leaves: {0, 3}, {1, 4}, {2, 5}
TREE2 = structure_from_groups("other", [[0, 3], [1, 4], [2, 5]])
TRUE = np.array([0, 0, 0, 3, 5])
PRED = np.array([0, 1, 3, 4, 0])


def test_structure_basics():
    assert TREE.parent == (0, 0, 0, 1, 1, 2)
    assert TREE.n_classes == 6 and TREE.n_super == 3
    assert TREE.members(1) == [3, 4]
    assert TREE.super_names == ("A", "B", "C")
    assert TREE.super_labels(torch.tensor([5, 0, 4])).tolist() == [2, 0, 1]
    assert "B: 3, 4" in TREE.describe()


def test_structure_bad_input():
    with pytest.raises(ValueError, match="superclass 1 has no subclasses"):
        LabelStructure("gap", (0, 2, 2))
    with pytest.raises(ValueError, match="partition"):
        structure_from_groups("dup", [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="class id 6 out of range for 6 classes"):
        TREE.super_labels(torch.tensor([6]))
    with pytest.raises(ValueError, match="superclass id 3 out of range"):
        TREE.members(3)


def test_structure_from_labels():
    fine = torch.tensor([0, 1, 2, 3, 0, 2])
    coarse = torch.tensor([1, 0, 1, 0, 1, 1])
    s = structure_from_labels("sem", fine, coarse)
    assert s.parent == (1, 0, 1, 0)
    with pytest.raises(ValueError, match="not a tree"):
        structure_from_labels("bad", torch.tensor([0, 0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="subclass 2 never appears"):
        structure_from_labels("bad", torch.tensor([0, 1]), torch.tensor([0, 0]), n_classes=3)


def test_tie_and_lca_hand_computed():
    # correct; sibling (same superclass); different superclass; sibling; different superclass
    assert tie_distance(TREE, TRUE, PRED).tolist() == [0, 2, 4, 2, 4]
    assert lca_height(TREE, TRUE, PRED).tolist() == [0, 1, 2, 1, 2]
    # in TREE2: 0→0 same; 0→1 ({0,3} vs {1,4}) different; 0→3 siblings; 3→4 different; 5→0 different
    assert tie_distance(TREE2, TRUE, PRED).tolist() == [0, 4, 2, 4, 4]
    assert lca_height(TREE2, torch.tensor(TRUE), torch.tensor(PRED)).tolist() == [0, 2, 1, 2, 2]


def test_hierarchical_metrics_hand_computed():
    m = hierarchical_metrics([TREE], TRUE, PRED)
    # overlaps of root→leaf paths (root, superclass, leaf): 3, 2, 1, 2, 1 of 3 nodes each → 9/15
    assert m["acc"] == pytest.approx(0.2)
    assert m["p_ha"] == pytest.approx(9 / 15) and m["r_ha"] == pytest.approx(9 / 15)
    assert m["f_ha"] == pytest.approx(9 / 15)
    assert m["tie_a"] == pytest.approx(12 / 5) and m["lca_a"] == pytest.approx(6 / 5)
    both = hierarchical_metrics([TREE, TREE2], TRUE, PRED)
    # TREE2 overlaps 3, 1, 2, 1, 1 → 8/15; Eq. 3 averages P_H and R_H over the M = 2 structures
    assert both["p_ha"] == pytest.approx((9 / 15 + 8 / 15) / 2)
    assert both["f_ha"] == pytest.approx(17 / 30)
    assert both["tie_a"] == pytest.approx((12 / 5 + 14 / 5) / 2)
    assert both["lca_a"] == pytest.approx((6 / 5 + 7 / 5) / 2)


def test_metrics_identities_random():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
    m = hierarchical_metrics([TREE, TREE2], t, p)
    assert m["lca_a"] == pytest.approx(m["tie_a"] / 2)
    assert m["f_ha"] == pytest.approx(1 - m["tie_a"] / 6)
    perfect = hierarchical_metrics([TREE, TREE2], t, t)
    assert perfect == {"acc": 1.0, "f_ha": 1.0, "p_ha": 1.0, "r_ha": 1.0, "tie_a": 0.0, "lca_a": 0.0}


@pytest.mark.parametrize("acc,f_ha,tie,lca", [
    (72.20, 83.35, 0.9991, 0.4995),  # Table 2, VGG16 CIFAR100, w/o H
    (73.37, 84.79, 0.9127, 0.4563),  # Table 2, VGG16 CIFAR100, H_A&S
    (82.67, 91.70, 0.4979, 0.2490),  # Table 1, VGG16 Car196, 15 superclasses
    (79.52, 88.28, 0.7029, 0.3514),  # Table 3, ResNet50 CIFAR100, H_A&S
])
def test_our_reading_of_eq3_matches_paper_tables(acc, f_ha, tie, lca):
    """The paper's numbers satisfy F_Ha = 1 − TIE_a/6 and LCA_a = TIE_a/2: the root is in the augmented sets."""
    assert f_ha / 100 == pytest.approx(1 - tie / 6, abs=6e-5)
    assert lca == pytest.approx(tie / 2, abs=6e-5)


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="class id 12 out of range for 6 classes"):
        tie_distance(TREE, [0], [12])
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        lca_height(TREE, [0, 1], [0])
    with pytest.raises(ValueError, match="at least one label structure"):
        hierarchical_metrics([], [0], [0])
    with pytest.raises(ValueError, match="empty"):
        tie_distance(TREE, [], [])
    with pytest.raises(ValueError, match="disagree"):
        hierarchical_metrics([TREE, structure_from_groups("x", [[0, 1]])], [0], [0])


def test_class_statistics_hand_computed():
    # 1-D features: class 0 = {0, 2} (mean 1, variance 1), class 1 = {10} (mean 10, variance 0)
    stats = class_statistics(np.array([[0.0], [2.0], [10.0]]), np.array([0, 0, 1]), 2)
    assert stats.means.ravel().tolist() == [1.0, 10.0]
    assert stats.variances.tolist() == [1.0, 0.0]
    dis = class_distances(stats)
    assert dis[0, 1] ** 2 == pytest.approx(81 + 1 + 0)  # Eq. 1
    assert dis[0, 0] ** 2 == pytest.approx(2.0) and dis[1, 1] == 0.0
    a = affinity_matrix(dis)
    assert a[0, 1] == pytest.approx(np.exp(-np.sqrt(82)))  # Eq. 2 with δ = 1
    assert affinity_matrix(dis, delta=2.0)[0, 1] == pytest.approx(np.exp(-np.sqrt(82) / 2))


def test_eq1_is_mean_pairwise_squared_distance():
    """Eq. 1 equals the mean squared distance over all sample pairs of the two classes (Qu et al., 2017)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5)) + np.repeat(rng.normal(scale=3, size=(4, 5)), 15, axis=0)
    y = np.repeat(np.arange(4), 15)
    dis = class_distances(class_statistics(torch.tensor(x), torch.tensor(y), 4))
    for i in range(4):
        for j in range(4):
            brute = (cdist(x[y == i], x[y == j], "sqeuclidean")).mean()
            assert dis[i, j] ** 2 == pytest.approx(brute, rel=1e-10)


def test_affinity_structure_recovers_blocks():
    """Classes whose feature means form three far-apart groups are clustered into those groups."""
    rng = np.random.default_rng(2)
    centers = np.array([[0, 0], [0.3, 0], [0, 0.3], [8, 8], [8.3, 8], [-8, 8], [-8.3, 8.2], [-8, 8.4]])
    y = np.repeat(np.arange(8), 20)
    x = centers[y] + rng.normal(scale=0.1, size=(160, 2))
    s, info = affinity_structure(x, y, 8, 3, seed=0)
    assert s.groups() == [[0, 1, 2], [3, 4], [5, 6, 7]]
    a = info["affinity"]
    assert np.allclose(a, a.T) and (a > 0).all() and (a <= 1).all()
    # deterministic
    s2, _ = affinity_structure(x, y, 8, 3, seed=0)
    assert s2 == s


def test_affinity_bad_input():
    with pytest.raises(ValueError, match="class 2 has no samples"):
        class_statistics(np.zeros((2, 3)), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="n_super must be in 1..3"):
        spectral_superclasses(np.eye(3), 4)
    with pytest.raises(ValueError, match="delta must be positive"):
        affinity_matrix(np.zeros((2, 2)), delta=0)
    with pytest.raises(ValueError, match="symmetric"):
        spectral_superclasses(np.array([[1.0, 0.2], [0.5, 1.0]]), 1)
    assert spectral_superclasses(np.eye(3), 1).tolist() == [0, 0, 0]
