"""GradDrop: gradient sign dropout (Chen et al., 2020, NeurIPS, "Just pick a sign", §3, Eqs. 1–3, Algorithm 1).

Per coordinate, the gradient sign purity P = ½ (1 + Σ_k g_k / Σ_k |g_k|) ∈ [0, 1]; with U ~ Uniform(0, 1)
drawn per coordinate, the positive parts are kept where P > U and the negative parts where P < U:
update = Σ_k 1[P > U] max(g_k, 0) + 1[P < U] min(g_k, 0). Coordinates where every task agrees in sign are
kept in full. The paper applies it to the gradients of a shared *representation* (``gradient_space``), which
the trainer then back-propagates through the trunk.
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads

__all__ = ["GradDrop"]


class GradDrop(GradientAggregator):
    """Gradient sign dropout; ``seed`` fixes the uniform draws, ``leak`` (paper: 0) keeps that fraction of
    every gradient regardless of the mask."""

    name = "GradDrop"
    gradient_space = "representation"

    def __init__(self, seed: int = 0, leak: float = 0.0) -> None:
        if not 0.0 <= leak <= 1.0:
            raise ValueError(f"leak must lie in [0, 1], got {leak}")
        self.generator = torch.Generator().manual_seed(seed)
        self.leak = float(leak)

    def purity(self, grads: torch.Tensor) -> torch.Tensor:
        """Sign purity P (d,); 0.5 where every gradient is zero."""
        total = grads.sum(dim=0)
        abs_total = grads.abs().sum(dim=0)
        return 0.5 * (1.0 + torch.where(abs_total > 0, total / abs_total.clamp_min(1e-30), torch.zeros_like(total)))

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        grads = check_grads(grads)
        p = self.purity(grads)
        u = torch.rand(p.shape, generator=self.generator, dtype=p.dtype).to(p.device)
        keep = ((p > u)[None] & (grads > 0)) | ((p < u)[None] & (grads < 0))
        mask = keep.to(grads.dtype)
        if self.leak:
            mask = self.leak + (1.0 - self.leak) * mask
        return Aggregation(direction=(mask * grads).sum(dim=0))
