"""Loss-weighting baselines with fixed or random weights.

* LS — linear scalarisation, Σ_k L_k (the baseline of Navon et al., 2022, §6).
* SI — scale-invariant scalarisation, Σ_k log L_k (Navon et al., 2022, §6: invariant to rescaling any loss).
* RLW — random loss weighting, Σ_k λ_k L_k with λ = softmax(ε), ε ~ N(0, I) drawn afresh at every step
  (Lin et al., 2022, "Reasonable effectiveness of random weighting", §3, Eq. 2).
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import LossWeighting, check_losses

__all__ = ["LS", "SI", "RLW"]


class LS(LossWeighting):
    """Linear scalarisation with weights ``task_weights`` (default all ones): Σ_k w_k L_k."""

    name = "LS"

    def __init__(self, task_weights: torch.Tensor | None = None) -> None:
        if task_weights is not None:
            task_weights = torch.as_tensor(task_weights, dtype=torch.float32)
            if task_weights.ndim != 1 or (task_weights < 0).any():
                raise ValueError("task_weights must be a 1-D tensor of non-negative weights")
        self.task_weights = task_weights

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses, None if self.task_weights is None else len(self.task_weights))
        if self.task_weights is None:
            return torch.ones_like(losses.detach())
        return self.task_weights.to(losses.device, losses.dtype)

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        return (self.weights(losses) * losses).sum()


class SI(LossWeighting):
    """Scale-invariant scalarisation Σ_k log L_k; its gradient is Σ_k ∇L_k / L_k. Losses must be > 0."""

    name = "SI"

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses)
        if (losses.detach() <= 0).any():
            bad = torch.nonzero(losses.detach() <= 0).flatten().tolist()
            raise ValueError(f"SI takes log of the losses; task(s) {bad} have a loss <= 0")
        return 1.0 / losses.detach()

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        self.weights(losses)
        return torch.log(losses).sum()


class RLW(LossWeighting):
    """Random loss weighting (Lin et al., 2022, Eq. 2): λ = softmax(ε), ε ~ N(0, I_K), new at every call of
    :meth:`combine`; ``seed`` makes the sequence of weights reproducible."""

    name = "RLW"

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.last: torch.Tensor | None = None

    def sample(self, k: int) -> torch.Tensor:
        """Draw fresh weights (K,) summing to one."""
        self.last = torch.softmax(torch.randn(k, generator=self.generator, dtype=torch.float64), 0).float()
        return self.last

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses)
        if self.last is None or len(self.last) != len(losses):
            raise ValueError("RLW has no weights for this number of tasks yet: call combine() first")
        return self.last.to(losses.device, losses.dtype)

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        check_losses(losses)
        w = self.sample(len(losses)).to(losses.device, losses.dtype)
        return (w * losses).sum()
