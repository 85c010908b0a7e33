"""The common interface of every weighting / aggregation method.

Two kinds, following the split of Navon et al. (2022, §2) between loss-weighting and gradient-manipulation
methods:

* :class:`LossWeighting` (LS, SI, RLW, DWA, UW): ``combine(losses)`` maps the K task losses (K,) to one
  differentiable scalar whose ordinary backward pass updates every parameter.
* :class:`GradientAggregator` (MGDA, PCGrad, CAGrad, IMTL-G, GradDrop, Nash-MTL): ``aggregate(grads, losses)``
  maps the per-task gradients of the shared parameters (K, d) to one update direction (d,), plus optional task
  weights (K,) that scale each task's loss for its own (task-specific) parameters.

Each method is a small object with its hyper-parameters in ``__init__`` and its state (e.g. DWA's loss
history, Nash-MTL's last weights) inside; ``name`` is the short name used in tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mtlnotes.weighting.scaling import check_floating

__all__ = ["Weighting", "LossWeighting", "GradientAggregator", "Aggregation", "check_grads", "check_losses"]


def _expect_tensor(value: object, name: str) -> None:
    """TypeError naming the type that came instead of a tensor (e.g. a NumPy array: convert it with torch.as_tensor)."""
    if not isinstance(value, torch.Tensor):
        kind = type(value)
        hint = "; convert it with torch.as_tensor(...)" if kind.__module__.split(".")[0] == "numpy" else ""
        raise TypeError(f"{name}: expected a torch.Tensor, got {kind.__module__}.{kind.__qualname__}{hint}")


def check_losses(losses: torch.Tensor, n_tasks: int | None = None) -> torch.Tensor:
    """Validate a (K,) loss vector (finite, right length); returns it."""
    _expect_tensor(losses, "losses")
    if losses.ndim != 1 or losses.numel() == 0:
        raise ValueError(f"losses must be a non-empty 1-D tensor (K,), got {getattr(losses, 'shape', losses)}")
    if n_tasks is not None and losses.numel() != n_tasks:
        raise ValueError(f"got {losses.numel()} losses for {n_tasks} tasks")
    bad = torch.nonzero(~torch.isfinite(losses.detach())).flatten().tolist()
    if bad:
        raise ValueError(f"non-finite loss for task(s) {bad}")
    return losses


def check_grads(grads: torch.Tensor) -> torch.Tensor:
    """Validate per-task gradients (K, d): 2-D, floating point (TypeError otherwise), K >= 1, d >= 1, all finite (names
    the offending tasks)."""
    _expect_tensor(grads, "grads")
    if grads.ndim != 2:
        raise ValueError(f"grads must be a (K, d) tensor, got shape {tuple(grads.shape)}")
    check_floating(grads)
    if grads.shape[0] < 1 or grads.shape[1] < 1:
        raise ValueError(f"grads must have K >= 1 tasks and d >= 1 coordinates, got {tuple(grads.shape)}")
    finite = torch.isfinite(grads).all(dim=1)
    if not finite.all():
        raise ValueError(f"non-finite gradient for task(s) {torch.nonzero(~finite).flatten().tolist()}")
    return grads


@dataclass(frozen=True)
class Aggregation:
    """Output of a gradient aggregator: ``direction`` (d,) for the shared parameters (the trainer sets it as
    their gradient, so the optimiser steps along minus it) and ``weights`` (K,) for the task-specific
    parameters (None: weight 1 for every task)."""

    direction: torch.Tensor
    weights: torch.Tensor | None = None


class Weighting:
    """Base class. ``uses_gradients`` tells the trainer which path to take."""

    name: str = "?"
    uses_gradients: bool = False
    #: where the per-task gradients are taken: "parameters" (shared parameters) or "representation"
    gradient_space: str = "parameters"

    def parameters(self) -> list[torch.Tensor]:
        """Learnable parameters of the method itself (only UW has some)."""
        return []

    def end_epoch(self, mean_losses: torch.Tensor) -> None:
        """Called by the trainer after each epoch with the epoch's mean training losses (K,) (DWA uses it)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LossWeighting(Weighting):
    """A method that combines the losses into one scalar objective."""

    uses_gradients = False

    def combine(self, losses: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Losses (K,) -> scalar objective (differentiable)."""
        raise NotImplementedError

    def weights(self, losses: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The effective weights w (K,) such that ∇ combine(L) = Σ_k w_k ∇L_k at the given losses."""
        raise NotImplementedError


class GradientAggregator(Weighting):
    """A method that maps per-task gradients (K, d) to one update direction (d,)."""

    uses_gradients = True

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:  # pragma: no cover
        raise NotImplementedError

    def reuse_weights(self) -> torch.Tensor | None:
        """Task weights to apply *without* computing gradients at this step (Nash-MTL's "solve every N
        steps" option); None (the default) means: compute the gradients and call :meth:`aggregate`."""
        return None

    def clip_norm(self) -> float | None:
        """Largest allowed norm of the shared update (Nash-MTL's max-norm option); None: no clipping."""
        return None
