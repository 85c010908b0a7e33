"""Pieces every engine shares: checking the losses, flattening per-parameter gradients, the trunk result type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["check_losses", "flatten", "TrunkGradients"]


def check_losses(losses: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """K task losses as one differentiable (K,) tensor (from a (K,) tensor or K scalar tensors)."""
    if isinstance(losses, torch.Tensor):
        if losses.ndim != 1:
            raise ValueError(f"losses must be a 1-D tensor of K task losses, got shape {tuple(losses.shape)}")
        stacked = losses
    else:
        losses = list(losses)
        if any(not isinstance(l, torch.Tensor) or l.numel() != 1 for l in losses):
            raise ValueError("losses must be scalar tensors, one per task")
        stacked = torch.stack([l.reshape(()) for l in losses])
    if stacked.numel() == 0:
        raise ValueError("need at least one task loss")
    if not stacked.requires_grad:
        raise ValueError("the losses do not require grad: compute them from the parameters without torch.no_grad()")
    return stacked


def flatten(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor], batch: int | None) -> torch.Tensor:
    """Concatenate per-parameter gradients into (d,) (or (batch, d)); a None gradient (a parameter the loss does not
    reach) is exactly zero."""
    parts = []
    for g, p in zip(grads, params):
        if g is None:
            shape = (batch, p.numel()) if batch is not None else (p.numel(),)
            g = torch.zeros(shape, dtype=p.dtype, device=p.device)
        parts.append(g.reshape(batch, -1) if batch is not None else g.reshape(-1))
    return torch.cat(parts, dim=-1)


@dataclass
class TrunkGradients:
    """What :func:`mtlnotes.gradients.shared_trunk_gradients` returns.

    ``grads`` (K, d): per-task gradients of the trunk's parameters (flattened in ``trunk.parameters()`` order);
    ``rep_grads`` (K, B, h): per-task gradients of the representation z; ``losses`` (K,): the task losses,
    still differentiable with respect to the *heads* (through a detached copy of z) so that the caller can
    back-propagate a weighted sum into the task-specific parameters; ``backward_trunk(v)`` maps a
    representation cotangent v (B, h) to the trunk's flat parameter gradient (d,).
    """

    grads: torch.Tensor
    rep_grads: torch.Tensor
    losses: torch.Tensor
    backward_trunk: Callable[[torch.Tensor], torch.Tensor]
