"""MGDA: the multiple-gradient descent algorithm (Désidéri, 2012) as used for deep MTL by Sener & Koltun
(2018, "Multi-task learning as multi-objective optimization", §3.1, Eq. 3 and Algorithm 2).

The update is the minimum-norm point of the convex hull of the task gradients,
d = Σ_k w_k g_k with w = argmin_{w∈Δ} ||Σ_k w_k g_k||², a direction that decreases every loss unless d = 0
(a Pareto-stationary point). As in the Nash-MTL experiments the weights are multiplied by K so that equal
weights give the LS update.
"""

from __future__ import annotations

import torch

from mtlnotes.gradients import gram_matrix
from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads
from mtlnotes.weighting.simplex import min_norm_weights

__all__ = ["MGDA"]


class MGDA(GradientAggregator):
    """Min-norm point of the gradients' convex hull (Sener & Koltun, 2018, Eq. 3); weights scaled to sum to K."""

    name = "MGDA"

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        grads = check_grads(grads)
        w = torch.as_tensor(min_norm_weights(gram_matrix(grads).cpu().numpy()), dtype=grads.dtype,
                            device=grads.device)
        k = grads.shape[0]
        return Aggregation(direction=k * (w @ grads), weights=k * w)
