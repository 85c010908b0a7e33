"""The reference engine: one ordinary backward pass per task (the loop of the official implementations)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from mtlnotes.gradients._common import TrunkGradients, check_losses, flatten

__all__ = ["per_task", "trunk"]


def per_task(losses: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool) -> torch.Tensor:
    """(K, d): row k is ∇_params L_k, by K calls of ``torch.autograd.grad``."""
    k = losses.shape[0]
    rows = []
    for i in range(k):
        g = torch.autograd.grad(losses[i], params, retain_graph=retain_graph or i < k - 1, allow_unused=True)
        rows.append(flatten(g, params, None))
    return torch.stack(rows)


def head_cotangents(task_losses: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(losses (K,) through a detached copy of z, ∂L_k/∂z (K, *z.shape)): the heads' part of every trunk engine."""
    z_leaf = z.detach().requires_grad_(True)
    losses = check_losses(task_losses(z_leaf))
    rep = per_task(losses, [z_leaf], retain_graph=True).reshape(len(losses), *z.shape)
    return losses, rep


def trunk(trunk: nn.Module, x: torch.Tensor, task_losses: Callable[[torch.Tensor], torch.Tensor],
          params: tuple[torch.Tensor, ...]) -> TrunkGradients:
    """K plain backward passes through the trunk, one per task cotangent."""
    z = trunk(x)
    losses, rep = head_cotangents(task_losses, z)
    rows = [flatten(torch.autograd.grad(z, params, rep[k], retain_graph=True, allow_unused=True), params, None)
            for k in range(len(losses))]

    def backward_trunk(v: torch.Tensor) -> torch.Tensor:
        return flatten(torch.autograd.grad(z, params, v, retain_graph=True, allow_unused=True), params, None)

    return TrunkGradients(torch.stack(rows), rep, losses, backward_trunk)
