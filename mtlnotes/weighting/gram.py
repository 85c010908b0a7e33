"""One aggregator for the Gram-based methods (MGDA, CAGrad, IMTL-G, Nash-MTL).

Each of these methods sees the task gradients G (K, d) only through their Gram matrix M = G Gᵀ (K, K): it computes
task weights α = ``weights(M)`` (K,) in torch, and the update is d = αᵀ G (Navon et al., 2022, §2 write every such
method this way). :class:`GramWeighting` does the rest once for all of them:

1. validate G (2-D, finite, floating point: :func:`~mtlnotes.weighting.base.check_grads`);
2. M = G Gᵀ in float64; if a squared norm overflowed or fell into subnormals, rescale G by an exact power of two
   2^e and recompute (:mod:`mtlnotes.weighting.scaling`);
3. α = ``weights(M)``, undo the scale: α(G) = α(G·2^e) · 2^(−e·p), p = ``weights_degree`` (0 when the weights are
   scale-invariant, −1 for Nash-MTL's α ∝ 1/||g||);
4. d = ``direction(G·2^e, α)`` · 2^(−e(1 + p)) (default ``direction``: αᵀG) and the task weights for the heads
   ``task_weights(α)`` (default α).
"""

from __future__ import annotations

import torch

from mtlnotes.gradients import gram_matrix
from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads
from mtlnotes.weighting.scaling import rescale_exponent, scale_by_power_of_two

__all__ = ["GramWeighting", "scaled_gram"]


def scaled_gram(grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(G·2^e (K, d), its Gram matrix (K, K) float64, e) with e = 0 unless G's squared norms leave the safe range
    of its dtype (see :func:`~mtlnotes.weighting.scaling.rescale_exponent`)."""
    gram = gram_matrix(grads)
    e = rescale_exponent(grads, float(torch.diagonal(gram).max()))
    if e == 0:
        return grads, gram, 0
    scaled = scale_by_power_of_two(grads, e)
    return scaled, gram_matrix(scaled), e


class GramWeighting(GradientAggregator):
    """A gradient aggregator whose weights depend on G only through M = G Gᵀ: subclasses implement
    :meth:`weights`; :meth:`aggregate` is shared (module docstring)."""

    #: α(s·G) = s^p α(G): 0 for MGDA, CAGrad, IMTL-G; −1 for Nash-MTL.
    weights_degree: int = 0

    def weights(self, gram: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Task weights α (K,) (float64) for the Gram matrix ``gram`` (K, K) (float64)."""
        raise NotImplementedError

    def direction(self, grads: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """The update (d,) from G (K, d) and α (K,): αᵀG."""
        return alpha.to(grads.dtype).to(grads.device) @ grads

    def task_weights(self, alpha: torch.Tensor, grads: torch.Tensor) -> torch.Tensor | None:
        """Weights (K,) for the task-specific parameters (None: weight 1), in the dtype of ``grads``."""
        return alpha.to(grads.dtype).to(grads.device)

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        grads = check_grads(grads)
        scaled, gram, e = scaled_gram(grads)
        alpha_scaled = self.weights(gram)
        alpha = scale_by_power_of_two(alpha_scaled, -e * self.weights_degree)
        direction = scale_by_power_of_two(self.direction(scaled, alpha_scaled), -e * (1 + self.weights_degree))
        return Aggregation(direction=direction, weights=self.task_weights(alpha, grads))
