"""One optimisation step of a hard-sharing network under any weighting method, and a peak-memory probe.

The step follows the common template of Navon et al. (2022, §2): compute the per-task gradients of the shared
parameters, aggregate them into one direction, update. Loss weightings (LS, SI, RLW, DWA, UW) skip the per-task
gradients and back-propagate their combined objective. For gradient aggregators the shared (trunk) parameters
receive the aggregated direction and each head receives its own loss's gradient scaled by the method's task
weight (1 when the method gives none), as in the official implementations.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mtlnotes.gradients import Engine, assign_gradient, per_task_gradients, shared_trunk_gradients
from mtlnotes.models import HardSharingNet
from mtlnotes.weighting.base import GradientAggregator, LossWeighting, Weighting

__all__ = ["multitask_step", "shared_parameter_step", "PeakMemory"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _task_losses(heads: Sequence[nn.Module], loss_fns: Sequence[LossFn], targets: Sequence[torch.Tensor]):
    def fn(z: torch.Tensor) -> torch.Tensor:
        return torch.stack([loss(head(z), y) for head, loss, y in zip(heads, loss_fns, targets)])
    return fn


def _clip_for(method: GradientAggregator, params: Sequence[torch.Tensor]) -> None:
    """Scale the gradients of ``params`` to the method's max norm, if it has one (Nash-MTL's practical option)."""
    max_norm = method.clip_norm()
    if max_norm is None:
        return
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)


def _not_a_weighting(method: object) -> TypeError:
    return TypeError(f"{type(method).__name__} is neither a LossWeighting nor a GradientAggregator")


def multitask_step(model: HardSharingNet, method: Weighting, x: torch.Tensor, targets: Sequence[torch.Tensor],
                   loss_fns: Sequence[LossFn], optimizer: torch.optim.Optimizer,
                   gradient_engine: Engine = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """One step; returns (losses (K,), task weights (K,)), both detached.

    ``targets[k]`` and ``loss_fns[k]`` belong to head k; ``gradient_engine`` is ``"auto"`` (the fastest
    that fits the trunk), ``"layerwise"``, ``"vmap"`` or ``"reference"`` (see
    :func:`mtlnotes.gradients.shared_trunk_gradients`).
    """
    k = model.n_tasks
    if len(targets) != k or len(loss_fns) != k:
        raise ValueError(f"model has {k} heads but got {len(targets)} targets and {len(loss_fns)} loss functions")
    task_losses = _task_losses(model.heads, loss_fns, targets)
    shared = [p for p in model.trunk.parameters() if p.requires_grad]
    optimizer.zero_grad(set_to_none=True)
    if isinstance(method, LossWeighting):
        losses = task_losses(model.trunk(x))
        method.combine(losses).backward()
        weights = method.weights(losses.detach())
    elif isinstance(method, GradientAggregator):
        reuse = method.reuse_weights()
        if reuse is not None:
            losses = task_losses(model.trunk(x))
            weights = reuse.detach().to(losses)  # dtype and device of the losses (the weights may be on the CPU)
            (weights * losses).sum().backward()
        else:
            tg = shared_trunk_gradients(model.trunk, x, task_losses, engine=gradient_engine)
            losses = tg.losses
            if method.gradient_space == "representation":
                agg = method.aggregate(tg.rep_grads.detach().reshape(k, -1), losses.detach())
                direction = tg.backward_trunk(agg.direction.reshape(tg.rep_grads.shape[1:]))
            else:
                agg = method.aggregate(tg.grads.detach(), losses.detach())
                direction = agg.direction
            weights = torch.ones_like(losses.detach()) if agg.weights is None else agg.weights.detach().to(losses)
            (weights * losses).sum().backward()  # heads only: the losses see a detached representation
            assign_gradient(shared, direction.detach())
        _clip_for(method, shared)
    else:
        raise _not_a_weighting(method)
    optimizer.step()
    return losses.detach(), weights.detach()


def shared_parameter_step(compute_losses: Callable[[], torch.Tensor], shared: Sequence[torch.Tensor],
                          task_params: Sequence[Sequence[torch.Tensor]], method: Weighting,
                          optimizer: torch.optim.Optimizer, gradient_engine: Engine = "reference",
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step for networks that are not a trunk plus heads (e.g. MTAN, whose task attention modules read the
    shared features at every stage); returns (losses (K,), task weights (K,)), both detached.

    ``compute_losses()`` runs the forward pass and returns the K task losses; ``shared`` are the shared parameters
    (d scalars), ``task_params[k]`` task k's own parameters. Loss weightings back-propagate their combined
    objective. Gradient aggregators get the (K, d) per-task gradients of ``shared`` from
    :func:`mtlnotes.gradients.per_task_gradients` (``gradient_engine`` ``"reference"`` or ``"vmap"``); the
    shared parameters receive the aggregated direction and task k's parameters the gradient of w_k L_k (w_k the
    method's task weight, 1 when it gives none), as in :func:`multitask_step`. Without a single shared
    representation, GradDrop acts on the shared parameters' gradients here.
    """
    shared = list(shared)
    own = [list(ps) for ps in task_params]
    optimizer.zero_grad(set_to_none=True)
    losses = compute_losses()
    k = losses.shape[0]
    if len(own) != k:
        raise ValueError(f"got {len(own)} groups of task parameters for {k} losses")
    if isinstance(method, LossWeighting):
        method.combine(losses).backward()
        weights = method.weights(losses.detach())
    elif isinstance(method, GradientAggregator):
        reuse = method.reuse_weights()
        if reuse is not None:
            weights = reuse.detach().to(losses)
            (weights * losses).sum().backward()
        else:
            grads = per_task_gradients(losses, shared, engine=gradient_engine, retain_graph=True)
            agg = method.aggregate(grads.detach(), losses.detach())
            weights = torch.ones_like(losses.detach()) if agg.weights is None else agg.weights.detach().to(losses)
            flat_own = [p for ps in own for p in ps]
            if flat_own:
                g_own = torch.autograd.grad((weights * losses).sum(), flat_own, allow_unused=True)
                for p, g in zip(flat_own, g_own):
                    p.grad = torch.zeros_like(p) if g is None else g
            assign_gradient(shared, agg.direction.detach())
        _clip_for(method, shared)
    else:
        raise _not_a_weighting(method)
    optimizer.step()
    return losses.detach(), weights.detach()


class PeakMemory(TorchDispatchMode):
    """Peak bytes of tensor storage allocated (and still alive) inside the ``with`` block, on any device.

    Tracks every storage created by an ATen op while active and subtracts it when freed; tensors that existed
    before the block (parameters, the batch) are not counted. Deterministic, so it can sit in notebooks.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._ids: set[int] = set()

    def _free(self, key: int, n: int) -> None:
        self.live -= n
        self._ids.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                key = id(st)
                if key in self._ids:
                    continue
                n = st.nbytes()
                self._ids.add(key)
                self.live += n
                self.peak = max(self.peak, self.live)
                weakref.finalize(st, self._free, key, n)
        return out
