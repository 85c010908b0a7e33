"""Per-task gradients: the engine behind every gradient-aggregation method (MGDA, PCGrad, CAGrad, IMTL-G,
GradDrop, Nash-MTL).

Given K task losses ``L_1 … L_K`` that share parameters θ (the trunk of a hard-sharing network), the methods
of Navon et al. (2022, "Multi-Task Learning as a Bargaining Game", §2 and §3) need the matrix of per-task
gradients ``G = [∇_θ L_1; …; ∇_θ L_K]`` of shape (K, d), d the number of shared scalars.

Two entry points, each with a plain reference and a fast path, tested to agree to 1e-5:

* :func:`per_task_gradients` works on any autograd graph: ``method="reference"`` makes one
  ``torch.autograd.grad`` call per task (K backward passes, the loop of the official implementations);
  ``method="batched"`` makes one call with ``is_grads_batched=True`` and the K one-hot cotangents.
  (On CPU the batched call is rarely faster: autograd vmaps the *whole* graph, heads included, and falls
  back to per-task loops for several backward kernels.)
* :func:`shared_trunk_gradients` knows the structure of hard parameter sharing, z = trunk(x), L_k = ℓ_k(z):
  it differentiates the heads per task to get ∂L_k/∂z (cheap), then pushes the K cotangents through the trunk.
  ``method="reference"`` runs K ordinary backward passes; ``method="layerwise"`` (the fast path,
  :mod:`mtlnotes.layerwise`) one hand-written backward of common layers (conv, linear, ReLU, max-pool,
  reshape) with the K tasks folded into the batch and each layer's saved input shared by the tasks;
  ``method="vmap"`` one vectorised vector-Jacobian product (``torch.func.vjp`` + ``torch.func.vmap``) for any
  trunk — on the CPU barely faster than the loop, because torch's batching rules loop over the tasks in the
  convolution and max-pool backward kernels; ``method="auto"`` (default) is layerwise when every layer of the
  trunk is supported, vmap otherwise.

As a separate, clearly named option, :func:`representation_gradients` returns the gradients with respect to a
shared *representation* z (B, h) instead of the parameters (GradDrop, Chen et al. 2020, acts there), giving
(K, B·h).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from mtlnotes.layerwise import UnsupportedTrunkError, layerwise_trunk

__all__ = ["per_task_gradients", "representation_gradients", "shared_trunk_gradients", "TrunkGradients",
           "UnsupportedTrunkError",
           "gram_matrix", "assign_gradient", "flat_size"]

_METHODS = ("reference", "batched")


def _check_losses(losses: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
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


def flat_size(params: Sequence[torch.Tensor]) -> int:
    """Total number of scalars d in ``params``."""
    return sum(p.numel() for p in params)


def _flatten(grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor], batch: int | None) -> torch.Tensor:
    parts = []
    for g, p in zip(grads, params):
        if g is None:  # a parameter the loss does not depend on: its gradient is exactly zero
            shape = (batch, p.numel()) if batch is not None else (p.numel(),)
            g = torch.zeros(shape, dtype=p.dtype, device=p.device)
        parts.append(g.reshape(batch, -1) if batch is not None else g.reshape(-1))
    return torch.cat(parts, dim=-1)


def per_task_gradients(losses: torch.Tensor | Sequence[torch.Tensor], params: Sequence[torch.Tensor],
                       method: str = "batched", retain_graph: bool = True) -> torch.Tensor:
    """The (K, d) matrix whose row k is ∇_params L_k, flattened in the order of ``params``.

    ``losses``: (K,) tensor (or K scalar tensors) computed from ``params``; ``params``: the shared
    parameters (d scalars in all). ``method``: ``"reference"`` (K backward passes) or ``"batched"`` (one
    batched backward pass, ``is_grads_batched=True``). Parameters a loss does not reach get zero rows.
    ``retain_graph`` keeps the graph for a later ``backward`` (the trainer needs it for the heads).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    params = list(params)
    if not params:
        raise ValueError("need at least one parameter tensor")
    if any(not p.requires_grad for p in params):
        raise ValueError("every parameter must require grad")
    stacked = _check_losses(losses)
    k = stacked.shape[0]
    if method == "reference":
        rows = []
        for i in range(k):
            g = torch.autograd.grad(stacked[i], params, retain_graph=retain_graph or i < k - 1, allow_unused=True)
            rows.append(_flatten(g, params, None))
        return torch.stack(rows)
    eye = torch.eye(k, dtype=stacked.dtype, device=stacked.device)
    g = torch.autograd.grad(stacked, params, grad_outputs=eye, retain_graph=retain_graph,
                            is_grads_batched=True, allow_unused=True)
    return _flatten(g, params, k)


def representation_gradients(losses: torch.Tensor | Sequence[torch.Tensor], representation: torch.Tensor,
                             method: str = "batched", retain_graph: bool = True) -> torch.Tensor:
    """Per-task gradients with respect to a shared representation z (B, h): returns (K, B·h).

    This is *not* the gradient of the shared parameters; methods that act on features (GradDrop) use it,
    and the trainer then back-propagates the aggregated (B, h) gradient through the trunk.
    """
    if not representation.requires_grad:
        raise ValueError("the representation must require grad (detach it and call requires_grad_() first)")
    return per_task_gradients(losses, [representation], method=method, retain_graph=retain_graph)


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


@dataclass
class TrunkGradients:
    """What :func:`shared_trunk_gradients` returns.

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


def shared_trunk_gradients(trunk: nn.Module, x: torch.Tensor,
                           task_losses: Callable[[torch.Tensor], torch.Tensor],
                           method: str = "auto") -> TrunkGradients:
    """Per-task gradients for hard parameter sharing: z = ``trunk(x)``, ``task_losses(z)`` -> (K,).

    Every method first gets each ∂L_k/∂z by a backward pass through the heads only. Then
    ``method="layerwise"`` (fast path on CPU) pushes all K cotangents through the trunk in one hand-written,
    task-batched backward (:mod:`mtlnotes.layerwise`; raises :class:`~mtlnotes.layerwise.UnsupportedTrunkError`
    for layers it does not implement); ``method="vmap"`` does it in one vectorised VJP (``torch.func.vmap`` over
    ``torch.func.vjp``), for any trunk; ``method="auto"`` is layerwise when the trunk is supported, else vmap;
    ``method="reference"`` does K plain backward passes through the trunk. All return the same numbers (to float
    rounding). Shapes: x (B, ...), z (B, h), grads (K, d), rep_grads (K, B, h).
    """
    if method not in ("auto", "layerwise", "vmap", "reference"):
        raise ValueError(f"method must be 'auto', 'layerwise', 'vmap' or 'reference', got {method!r}")
    named = [(n, p) for n, p in trunk.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the trunk has no trainable parameters")
    names = [n for n, _ in named]
    params = tuple(p for _, p in named)

    if method in ("auto", "layerwise"):
        try:
            return _layerwise_gradients(layerwise_trunk(trunk), x, task_losses)
        except UnsupportedTrunkError:
            if method == "layerwise":
                raise
        method = "vmap"

    if method == "reference":
        z = trunk(x)
        z_leaf = z.detach().requires_grad_(True)
        losses = _check_losses(task_losses(z_leaf))
        rep = per_task_gradients(losses, [z_leaf], method="reference").reshape(len(losses), *z.shape)
        rows = [_flatten(torch.autograd.grad(z, params, rep[k], retain_graph=True, allow_unused=True), params, None)
                for k in range(len(losses))]

        def backward_trunk(v: torch.Tensor) -> torch.Tensor:
            return _flatten(torch.autograd.grad(z, params, v, retain_graph=True, allow_unused=True), params, None)

        return TrunkGradients(torch.stack(rows), rep, losses, backward_trunk)

    def trunk_fn(*ps: torch.Tensor) -> torch.Tensor:
        return functional_call(trunk, dict(zip(names, ps)), (x,))

    z, vjp_fn = vjp(trunk_fn, *params)
    z_leaf = z.detach().requires_grad_(True)
    losses = _check_losses(task_losses(z_leaf))
    k = losses.shape[0]
    rep = per_task_gradients(losses, [z_leaf], method="reference").reshape(k, *z.shape)
    batched = vmap(vjp_fn)(rep)
    grads = torch.cat([g.reshape(k, -1) for g in batched], dim=1)

    def backward_trunk(v: torch.Tensor) -> torch.Tensor:
        return torch.cat([g.reshape(-1) for g in vjp_fn(v)])

    return TrunkGradients(grads, rep, losses, backward_trunk)


def _layerwise_gradients(engine, x: torch.Tensor,
                         task_losses: Callable[[torch.Tensor], torch.Tensor]) -> TrunkGradients:
    """``shared_trunk_gradients(..., method="layerwise")`` given the trunk's :class:`LayerwiseTrunk`."""
    z, tape = engine.forward(x)  # may raise UnsupportedTrunkError (dropout in training mode) before any work
    z_leaf = z.detach().requires_grad_(True)
    losses = _check_losses(task_losses(z_leaf))
    k = losses.shape[0]
    rep = per_task_gradients(losses, [z_leaf], method="reference").reshape(k, *z.shape)
    grads = engine.backward(tape, rep)

    def backward_trunk(v: torch.Tensor) -> torch.Tensor:
        return engine.backward(tape, v.unsqueeze(0))[0]

    return TrunkGradients(grads, rep, losses, backward_trunk)
