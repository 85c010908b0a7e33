"""PCGrad: projecting conflicting gradients (Yu et al., 2020, "Gradient surgery for multi-task learning",
Algorithm 1).

For every task i, g_i^PC starts at g_i; for every other task j in random order, if g_i^PC · g_j < 0 the
component of g_i^PC along g_j is removed: g_i^PC ← g_i^PC − (g_i^PC·g_j / ||g_j||²) g_j. The update is
Σ_i g_i^PC.
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads
from mtlnotes.weighting.scaling import rescale_exponent, scale_by_power_of_two

__all__ = ["PCGrad"]


class PCGrad(GradientAggregator):
    """Gradient surgery (Yu et al., 2020, Algorithm 1); ``seed`` fixes the random task orders."""

    name = "PCGrad"

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def project(self, grads: torch.Tensor) -> torch.Tensor:
        """The projected gradients g^PC (K, d) (computed on G·2^e when G's squared norms leave the safe range).

        >>> PCGrad().project(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]))
        tensor([[0.5000, 0.5000],
                [0.0000, 1.0000]])
        """
        grads = check_grads(grads)
        k = grads.shape[0]
        sq = (grads * grads).sum(dim=1)
        e = rescale_exponent(grads, float(sq.max()))  # 0 unless a squared norm overflows or underflows
        if e:
            grads = scale_by_power_of_two(grads, e)
            sq = (grads * grads).sum(dim=1)
        out = grads.clone()
        for i in range(k):
            for j in torch.randperm(k, generator=self.generator).tolist():
                if j == i or sq[j] == 0:
                    continue
                dot = out[i] @ grads[j]
                if dot < 0:
                    out[i] = out[i] - (dot / sq[j]) * grads[j]
        return scale_by_power_of_two(out, -e)

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        return Aggregation(direction=self.project(grads).sum(dim=0))
