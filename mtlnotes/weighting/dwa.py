"""Dynamic Weight Average (Liu, Johns & Davison, 2019, "End-to-end multi-task learning with attention",
§3.3, Eq. 7).

w_k(t) = K · exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T), with r_k(t−1) = L_k(t−1) / L_k(t−2) the ratio of the
epoch-average training losses of the two previous epochs, and temperature T (paper: 2). During the first
two epochs w_k = 1.
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import LossWeighting, check_losses

__all__ = ["DWA"]


class DWA(LossWeighting):
    """Dynamic Weight Average; call :meth:`end_epoch` with each epoch's mean training losses (K,)."""

    name = "DWA"

    def __init__(self, temperature: float = 2.0) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.history: list[torch.Tensor] = []

    def end_epoch(self, mean_losses: torch.Tensor) -> None:
        mean_losses = check_losses(mean_losses.detach().to(torch.float64).cpu())
        if (mean_losses <= 0).any():
            raise ValueError("DWA needs positive epoch-average losses (it divides by them)")
        if self.history and len(self.history[-1]) != len(mean_losses):
            raise ValueError(f"got {len(mean_losses)} losses, earlier epochs had {len(self.history[-1])}")
        self.history = (self.history + [mean_losses])[-2:]

    def current(self, k: int) -> torch.Tensor:
        """The weights (K,) for the current epoch (float64)."""
        if len(self.history) < 2:
            return torch.ones(k, dtype=torch.float64)
        ratio = self.history[-1] / self.history[-2]
        if len(ratio) != k:
            raise ValueError(f"DWA history has {len(ratio)} tasks, got {k} losses")
        return k * torch.softmax(ratio / self.temperature, dim=0)

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses)
        return self.current(len(losses)).to(losses.device, losses.dtype)

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.weights(losses) * losses).sum()
