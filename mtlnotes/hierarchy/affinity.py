"""The affinity-based label structure H_A, MMF §3.3 (Li et al., 2021, Eqs. 1–2, Fig. 3).

Class statistics of features (mean ``Q_i`` and total variance ``σ_i²``) give the class distance of Eq. 1,
``dis(c_i, c_j)² = ‖Q_i − Q_j‖² + σ_i² + σ_j²`` — the mean squared distance between a sample of ``c_i`` and an
independent sample of ``c_j`` (Qu et al., 2017) — and the affinity of Eq. 2, ``A_ij = exp(−dis(c_i, c_j)/δ)``
(δ = 1 in the paper). Spectral clustering (Ng, Jordan & Weiss, 2001; scikit-learn) of ``A`` groups the
classes into the superclasses of a three-level structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import SpectralClustering

from mtlnotes.hierarchy.structures import LabelStructure, check_labels

__all__ = ["ClassStatistics", "class_statistics", "class_distances", "affinity_matrix", "spectral_superclasses",
           "affinity_structure"]


@dataclass(frozen=True)
class ClassStatistics:
    """means (C, d); variances (C,) = mean squared distance of a class's features to its mean; counts (C,)."""

    means: np.ndarray
    variances: np.ndarray
    counts: np.ndarray


def class_statistics(features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                     n_classes: int) -> ClassStatistics:
    """Per-class mean ``Q_i`` and variance ``σ_i² = mean_x ‖x − Q_i‖²`` (population, ddof 0) of Eq. 1.

    features: (N, d); labels: (N,) in ``range(n_classes)``. Every class needs at least one sample.
    """
    x = features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor) else np.asarray(
        features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, d), got shape {x.shape}")
    y = check_labels(labels, n_classes)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    counts = np.bincount(y, minlength=n_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"class {int(empty[0])} has no samples; cannot compute its statistics")
    means = np.zeros((n_classes, x.shape[1]))
    np.add.at(means, y, x)
    means /= counts[:, None]
    sq = ((x - means[y]) ** 2).sum(axis=1)
    variances = np.bincount(y, weights=sq, minlength=n_classes) / counts
    return ClassStatistics(means, variances, counts)


def class_distances(stats: ClassStatistics) -> np.ndarray:
    """``dis(c_i, c_j)`` of Eq. 1 for all pairs: (C, C), symmetric; the diagonal is ``√(2σ_i²)``."""
    q = stats.means
    sq = (q ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * q @ q.T, 0.0)
    d2 = d2 + stats.variances[:, None] + stats.variances[None, :]
    return np.sqrt(d2)


def affinity_matrix(distances: np.ndarray, delta: float = 1.0) -> np.ndarray:
    """``A_ij = exp(−dis_ij / δ)`` (Eq. 2), with a constant δ > 0 (the paper takes δ = 1)."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distances must be a square matrix, got shape {d.shape}")
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    if (d < 0).any():
        raise ValueError("distances must be non-negative")
    return np.exp(-d / delta)


def spectral_superclasses(affinity: np.ndarray, n_super: int, seed: int = 0) -> np.ndarray:
    """Spectral clustering of a precomputed affinity (C, C) into ``n_super`` groups: (C,) superclass ids.

    Ids are renumbered so that superclass 0 holds the lowest class id, superclass 1 the lowest remaining, etc.
    """
    a = np.asarray(affinity, dtype=np.float64)
    c = a.shape[0]
    if not 1 <= n_super <= c:
        raise ValueError(f"n_super must be in 1..{c} for {c} classes, got {n_super}")
    if not np.allclose(a, a.T):
        raise ValueError("affinity matrix must be symmetric")
    if n_super == 1:
        return np.zeros(c, dtype=np.int64)
    if n_super == c:
        return np.arange(c, dtype=np.int64)
    raw = SpectralClustering(n_clusters=n_super, affinity="precomputed", random_state=seed,
                             n_init=10).fit_predict(a)
    order = {}
    for label in raw:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in raw], dtype=np.int64)


def affinity_structure(features: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, n_classes: int,
                       n_super: int, delta: float = 1.0, seed: int = 0, name: str = "H_A",
                       class_names=None) -> tuple[LabelStructure, dict]:
    """H_A from features (N, d) and labels (N,): Eq. 1 → Eq. 2 → spectral clustering (Fig. 3).

    Returns the structure and ``{"distances", "affinity", "stats"}`` for display.
    """
    stats = class_statistics(features, labels, n_classes)
    dis = class_distances(stats)
    a = affinity_matrix(dis, delta)
    parent = spectral_superclasses(a, n_super, seed)
    structure = LabelStructure(name, tuple(parent.tolist()),
                               tuple(class_names) if class_names is not None else None,
                               tuple(f"{name}:{s}" for s in range(n_super)))
    return structure, {"distances": dis, "affinity": a, "stats": stats}
