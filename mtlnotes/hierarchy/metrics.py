"""Hierarchical evaluation measures for M label structures, MMF §3.4 (Li et al., 2021, Eqs. 3–6).

For three-level trees (root, superclasses, subclasses), with true subclass ``c`` and prediction ``ĉ``:

* TIE distance ``|Edge_m(c, ĉ)|`` — edges on the tree path between the two leaves: 0, 2 or 4;
* LCA height ``Height_m(c, ĉ)`` — height of their lowest common ancestor above the leaves: 0, 1 or 2;
* hierarchical precision/recall — augmented sets ``C_aug`` are the nodes on the root→leaf path, root
  included (3 nodes each); ``P_H = Σ|Ĉ_aug ∩ C_aug| / Σ|Ĉ_aug|`` and ``R_H = Σ|Ĉ_aug ∩ C_aug| / Σ|C_aug|``
  summed over samples (Kiritchenko et al.'s micro-average), then averaged over the M structures (Eq. 3).

With the root counted, ``F_H = 1 − TIE/6`` and ``LCA = TIE/2`` on three-level trees; the paper's Tables 1–3
satisfy both identities to rounding, which is how we read Eq. 3's (garbled in print) sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mtlnotes.hierarchy.structures import LabelStructure, check_labels

__all__ = ["tie_distance", "lca_height", "hierarchical_precision_recall", "hierarchical_metrics"]


def _pair(structure: LabelStructure, true, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = check_labels(true, structure.n_classes)
    p = check_labels(pred, structure.n_classes)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} true labels but {p.shape[0]} predictions")
    if t.size == 0:
        raise ValueError("hierarchical measures of an empty set are undefined")
    parent = structure.parent_array()
    return t, p, parent[t] == parent[p]


def tie_distance(structure: LabelStructure, true: torch.Tensor | np.ndarray,
                 pred: torch.Tensor | np.ndarray) -> np.ndarray:
    """Tree-induced error per sample: edges between true and predicted leaf in ``structure`` (Eq. 5's
    ``|Edge_m(c, ĉ)|``). true, pred: (N,) subclass ids → (N,) int64 in {0, 2, 4}."""
    t, p, same_super = _pair(structure, true, pred)
    return np.where(t == p, 0, np.where(same_super, 2, 4)).astype(np.int64)


def lca_height(structure: LabelStructure, true: torch.Tensor | np.ndarray,
               pred: torch.Tensor | np.ndarray) -> np.ndarray:
    """Height of the lowest common ancestor of true and predicted leaf (Eq. 6's ``Height_m(c, ĉ)``;
    leaves have height 0, superclasses 1, the root 2). true, pred: (N,) → (N,) int64 in {0, 1, 2}."""
    t, p, same_super = _pair(structure, true, pred)
    return np.where(t == p, 0, np.where(same_super, 1, 2)).astype(np.int64)


def hierarchical_precision_recall(structure: LabelStructure, true, pred) -> tuple[float, float]:
    """``(P_H, R_H)`` of one structure (the summands of Eq. 3), root included in the augmented sets."""
    t, p, same_super = _pair(structure, true, pred)
    overlap = 1 + same_super.astype(np.int64) + (t == p).astype(np.int64)  # root + superclass + leaf
    depth = 3  # |C_aug| = |Ĉ_aug| = 3 for every leaf of a three-level tree
    total = overlap.sum()
    return float(total / (depth * t.size)), float(total / (depth * t.size))


def hierarchical_metrics(structures: Sequence[LabelStructure], true: torch.Tensor | np.ndarray,
                         pred: torch.Tensor | np.ndarray) -> dict[str, float]:
    """Acc, F_Ha (Eqs. 3–4), TIE_a (Eq. 5) and LCA_a (Eq. 6) averaged over the M ``structures``.

    true, pred: (N,) subclass ids. Returns ``{"acc", "f_ha", "p_ha", "r_ha", "tie_a", "lca_a"}``; the
    structures must share the subclass set.
    """
    if not structures:
        raise ValueError("need at least one label structure")
    n = {s.n_classes for s in structures}
    if len(n) != 1:
        raise ValueError(f"structures disagree on the number of subclasses: {sorted(n)}")
    t = check_labels(true, n.pop())
    p = check_labels(pred, structures[0].n_classes)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} true labels but {p.shape[0]} predictions")
    prs = [hierarchical_precision_recall(s, t, p) for s in structures]
    p_ha = float(np.mean([pr[0] for pr in prs]))
    r_ha = float(np.mean([pr[1] for pr in prs]))
    f_ha = 2 * p_ha * r_ha / (p_ha + r_ha) if p_ha + r_ha > 0 else 0.0
    return {
        "acc": float((t == p).mean()),
        "f_ha": f_ha,
        "p_ha": p_ha,
        "r_ha": r_ha,
        "tie_a": float(np.mean([tie_distance(s, t, p).mean() for s in structures])),
        "lca_a": float(np.mean([lca_height(s, t, p).mean() for s in structures])),
    }
