"""The vmap engine: one batched backward pass for all K tasks (``is_grads_batched``, or ``torch.func.vmap`` of a VJP
through a trunk). On the CPU barely faster than the reference loop: torch's batching rules loop over the tasks in
the convolution and max-pool backward kernels (``benchmarks/gradients_engine.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from mtlnotes.gradients._common import TrunkGradients, flatten
from mtlnotes.gradients._reference import head_cotangents

__all__ = ["per_task", "trunk"]


def per_task(losses: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool) -> torch.Tensor:
    """(K, d) by one ``torch.autograd.grad`` call with the K one-hot cotangents, ``is_grads_batched=True``."""
    k = losses.shape[0]
    eye = torch.eye(k, dtype=losses.dtype, device=losses.device)
    g = torch.autograd.grad(losses, params, grad_outputs=eye, retain_graph=retain_graph,
                            is_grads_batched=True, allow_unused=True)
    return flatten(g, params, k)


def trunk(trunk: nn.Module, x: torch.Tensor, task_losses: Callable[[torch.Tensor], torch.Tensor],
          names: list[str], params: tuple[torch.Tensor, ...]) -> TrunkGradients:
    """One vectorised VJP (``torch.func.vmap`` over ``torch.func.vjp``) of the K cotangents through the trunk."""

    def trunk_fn(*ps: torch.Tensor) -> torch.Tensor:
        return functional_call(trunk, dict(zip(names, ps)), (x,))

    z, vjp_fn = vjp(trunk_fn, *params)
    losses, rep = head_cotangents(task_losses, z)
    k = losses.shape[0]
    batched = vmap(vjp_fn)(rep)
    grads = torch.cat([g.reshape(k, -1) for g in batched], dim=1)

    def backward_trunk(v: torch.Tensor) -> torch.Tensor:
        return torch.cat([g.reshape(-1) for g in vjp_fn(v)])

    return TrunkGradients(grads, rep, losses, backward_trunk)
