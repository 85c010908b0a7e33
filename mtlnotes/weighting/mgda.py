"""MGDA: the multiple-gradient descent algorithm (Désidéri, 2012) as used for deep MTL by Sener & Koltun
(2018, "Multi-task learning as multi-objective optimization", §3.1, Eq. 3 and Algorithm 2).

The update is the minimum-norm point of the convex hull of the task gradients,
d = Σ_k w_k g_k with w = argmin_{w∈Δ} ||Σ_k w_k g_k||², a direction that decreases every loss unless d = 0
(a Pareto-stationary point). As in the Nash-MTL experiments the weights are multiplied by K so that equal
weights give the LS update.
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.gram import GramWeighting
from mtlnotes.weighting.simplex import min_norm_weights

__all__ = ["MGDA"]


class MGDA(GramWeighting):
    """Min-norm point of the gradients' convex hull (Sener & Koltun, 2018, Eq. 3); weights scaled to sum to K.

    >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> agg = MGDA().aggregate(g)
    >>> agg.direction, agg.weights
    (tensor([1., 1.]), tensor([1., 1.]))
    """

    name = "MGDA"

    def weights(self, gram: torch.Tensor) -> torch.Tensor:
        """K · w* (K,), w* = argmin_{w∈Δ} wᵀ M w (:func:`~mtlnotes.weighting.simplex.min_norm_weights`)."""
        w = torch.from_numpy(min_norm_weights(gram.cpu().numpy()))
        return gram.shape[0] * w
