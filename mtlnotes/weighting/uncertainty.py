"""Uncertainty weighting, UW (Kendall, Gal & Cipolla, 2018, "Multi-task learning using uncertainty to weigh
losses", §3.2, Eq. 7).

With learnable s_k = log σ_k², the objective is Σ_k ½ (exp(−s_k) L_k + s_k): a task with a large loss learns
a large σ_k and is down-weighted, and the s_k/2 term keeps σ from growing without bound. For fixed losses
the optimum is s_k = log L_k. (The same ½-scaled form is used by the Nash-MTL experiments.)
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import LossWeighting, check_losses

__all__ = ["UW"]


class UW(LossWeighting):
    """Homoscedastic-uncertainty weighting with log-variances ``log_var`` (K,), learned with the model."""

    name = "UW"

    def __init__(self, n_tasks: int, init: float = 0.0) -> None:
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
        self.log_var = torch.full((n_tasks,), float(init), requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.log_var]

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses, len(self.log_var))
        return (0.5 * torch.exp(-self.log_var.detach())).to(losses.device, losses.dtype)

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses, len(self.log_var))
        s = self.log_var.to(losses.device)
        return (0.5 * (torch.exp(-s) * losses + s)).sum()
