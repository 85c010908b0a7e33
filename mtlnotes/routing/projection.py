"""The simplex projection used by the Weighted Policy Learner (Rosenbaum et al., 2018, §3.1.2)."""

from __future__ import annotations

import numpy as np

__all__ = ["simplex_projection"]


def simplex_projection(pi: np.ndarray) -> np.ndarray:
    """Project policy values onto the probability simplex as Rosenbaum et al. (2018, §3.1.2) define it:
    ``clip(pi) / sum(clip(pi))`` with ``clip(x) = max(0, min(1, x))``, along the last axis.

    ``pi``: (..., A). Returns an array of the same shape whose rows are probability distributions.
    (This is *not* the Euclidean projection onto the simplex; it is the paper's definition.)
    Raises ``ValueError`` when a row has no positive entry, because it cannot be normalised.
    """
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim == 0:
        raise ValueError("simplex_projection needs at least one axis of action values")
    if not np.all(np.isfinite(pi)):
        raise ValueError("simplex_projection got non-finite policy values")
    clipped = np.clip(pi, 0.0, 1.0)
    total = clipped.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("simplex_projection: a row has no positive entry after clipping to [0, 1]; "
                         "the policy step was too large (lower the policy learning rate)")
    return clipped / total
