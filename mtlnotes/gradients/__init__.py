"""Per-task gradients: the engine behind every gradient-aggregation method (MGDA, PCGrad, CAGrad, IMTL-G,
GradDrop, Nash-MTL).

Given K task losses ``L_1 … L_K`` that share parameters θ (the trunk of a hard-sharing network), the methods
of Navon et al. (2022, "Multi-Task Learning as a Bargaining Game", §2 and §3) need the matrix of per-task
gradients ``G = [∇_θ L_1; …; ∇_θ L_K]`` of shape (K, d), d the number of shared scalars.

Two entry points, one parameter ``engine`` (:data:`Engine`) choosing among private engines that are tested to
agree to 1e-5:

* :func:`per_task_gradients` works on any autograd graph: ``engine="reference"`` makes one
  ``torch.autograd.grad`` call per task (K backward passes, the loop of the official implementations);
  ``engine="vmap"`` (and ``"auto"``) one call with ``is_grads_batched=True`` and the K one-hot cotangents.
  (On CPU the batched call is rarely faster: autograd vmaps the *whole* graph, heads included, and falls
  back to per-task loops for several backward kernels.) ``"layerwise"`` needs a trunk: a ValueError here.
* :func:`shared_trunk_gradients` knows the structure of hard parameter sharing, z = trunk(x), L_k = ℓ_k(z):
  it differentiates the heads per task to get ∂L_k/∂z (cheap), then pushes the K cotangents through the trunk.
  ``engine="reference"`` runs K ordinary backward passes; ``engine="layerwise"`` (the fast path on the CPU,
  ``_layerwise``) one hand-written backward of common layers (conv, linear, ReLU, max-pool, reshape) with the
  K tasks folded into the batch and each layer's saved input shared by the tasks; ``engine="vmap"`` one
  vectorised vector-Jacobian product (``torch.func.vjp`` + ``torch.func.vmap``) for any trunk — on the CPU
  barely faster than the loop, because torch's batching rules loop over the tasks in the convolution and
  max-pool backward kernels; ``engine="auto"`` (default) is layerwise when every layer of the trunk is
  supported, vmap otherwise.

As a separate, clearly named option, :func:`representation_gradients` returns the gradients with respect to a
shared *representation* z (B, h) instead of the parameters (GradDrop, Chen et al. 2020, acts there), giving
(K, B·h).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, get_args

import torch
from torch import nn

from mtlnotes.gradients import _reference, _vmap
from mtlnotes.gradients._common import TrunkGradients, check_losses
from mtlnotes.gradients._layerwise import UnsupportedTrunkError, layerwise_trunk, trunk_gradients

__all__ = ["Engine", "ENGINES", "per_task_gradients", "representation_gradients", "shared_trunk_gradients",
           "TrunkGradients", "UnsupportedTrunkError", "gram_matrix", "assign_gradient", "flat_size"]

#: How per-task gradients are computed (module docstring).
Engine = Literal["reference", "layerwise", "vmap", "auto"]
ENGINES: tuple[str, ...] = get_args(Engine)


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(repr(e) for e in ENGINES)}, got {engine!r}")


def flat_size(params: Sequence[torch.Tensor]) -> int:
    """Total number of scalars d in ``params``."""
    return sum(p.numel() for p in params)


def per_task_gradients(losses: torch.Tensor | Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                       engine: Engine = "auto", retain_graph: bool = True) -> torch.Tensor:
    """The (K, d) matrix whose row k is ∇_params L_k, flattened in the order of ``params``.

    ``losses``: (K,) tensor (or K scalar tensors) computed from ``params``; ``params``: the shared
    parameters (d scalars in all). ``engine``: ``"reference"`` (K backward passes) or ``"vmap"`` / ``"auto"``
    (one batched backward pass, ``is_grads_batched=True``). Parameters a loss does not reach get zero rows.
    ``retain_graph`` keeps the graph for a later ``backward`` (the trainer needs it for the heads).

    >>> theta = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> per_task_gradients(torch.stack([theta[0] ** 2, theta.sum()]), [theta], engine="reference")
    tensor([[2., 0.],
            [1., 1.]])
    """
    _check_engine(engine)
    if engine == "layerwise":
        raise ValueError("engine 'layerwise' needs the trunk's structure: use shared_trunk_gradients(trunk, x, ...)")
    params = list(params)
    if not params:
        raise ValueError("need at least one parameter tensor")
    if any(not p.requires_grad for p in params):
        raise ValueError("every parameter must require grad")
    stacked = check_losses(losses)
    if engine == "reference":
        return _reference.per_task(stacked, params, retain_graph)
    return _vmap.per_task(stacked, params, retain_graph)


def representation_gradients(losses: torch.Tensor | Sequence[torch.Tensor], representation: torch.Tensor,
                             engine: Engine = "auto", retain_graph: bool = True) -> torch.Tensor:
    """Per-task gradients with respect to a shared representation z (B, h): returns (K, B·h).

    This is *not* the gradient of the shared parameters; methods that act on features (GradDrop) use it,
    and the trainer then back-propagates the aggregated (B, h) gradient through the trunk.
    """
    if not representation.requires_grad:
        raise ValueError("the representation must require grad (detach it and call requires_grad_() first)")
    return per_task_gradients(losses, [representation], engine=engine, retain_graph=retain_graph)


def gram_matrix(grads: torch.Tensor) -> torch.Tensor:
    """G Gᵀ (K, K) of per-task gradients ``grads`` (K, d), computed in float64 for the solvers."""
    if grads.ndim != 2:
        raise ValueError(f"grads must be (K, d), got shape {tuple(grads.shape)}")
    g = grads.detach().to(torch.float64)
    return g @ g.T


def assign_gradient(params: Sequence[torch.Tensor], direction: torch.Tensor, accumulate: bool = False) -> None:
    """Write a flat update direction (d,) into ``p.grad`` of ``params`` (the inverse of the flattening above)."""
    params = list(params)
    d = flat_size(params)
    if direction.shape != (d,):
        raise ValueError(f"direction has shape {tuple(direction.shape)}, the parameters have {d} scalars")
    start = 0
    for p in params:
        g = direction[start:start + p.numel()].view_as(p).to(p.dtype)
        start += p.numel()
        if accumulate and p.grad is not None:
            p.grad.add_(g)
        else:
            p.grad = g.clone()


def shared_trunk_gradients(trunk: nn.Module, x: torch.Tensor,
                           task_losses: Callable[[torch.Tensor], torch.Tensor],
                           engine: Engine = "auto") -> TrunkGradients:
    """Per-task gradients for hard parameter sharing: z = ``trunk(x)``, ``task_losses(z)`` -> (K,).

    Every engine first gets each ∂L_k/∂z by a backward pass through the heads only. Then
    ``engine="layerwise"`` (fast path on CPU) pushes all K cotangents through the trunk in one hand-written,
    task-batched backward (raises :class:`UnsupportedTrunkError` for layers it does not implement);
    ``engine="vmap"`` does it in one vectorised VJP (``torch.func.vmap`` over ``torch.func.vjp``), for any
    trunk; ``engine="auto"`` is layerwise when the trunk is supported, else vmap; ``engine="reference"`` does K
    plain backward passes through the trunk. All return the same numbers (to float rounding). Shapes: x (B, ...),
    z (B, h), grads (K, d), rep_grads (K, B, h).
    """
    _check_engine(engine)
    named = [(n, p) for n, p in trunk.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the trunk has no trainable parameters")
    names = [n for n, _ in named]
    params = tuple(p for _, p in named)
    if engine in ("auto", "layerwise"):
        try:
            return trunk_gradients(layerwise_trunk(trunk), x, task_losses)
        except UnsupportedTrunkError:
            if engine == "layerwise":
                raise
    if engine == "reference":
        return _reference.trunk(trunk, x, task_losses, params)
    return _vmap.trunk(trunk, x, task_losses, names, params)
