"""Routed SimpleConvNet and its soft / static relatives (Rosenbaum et al., 2018, §4), and training by
Algorithm 2 (router and function blocks trained jointly)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.routing.agents import Router, Trace
from mtlnotes.routing.layers import RoutedFC
from mtlnotes.routing.rewards import CollaborationReward, discounted_returns, final_reward
from mtlnotes.routing.soft import ColumnFC

__all__ = ["RoutingNetwork", "SoftNetwork", "place", "train_step", "predict_tasks"]


class RoutingNetwork(nn.Module):
    """A convolutional trunk followed by routed fc layers (Algorithm 1, batched).

    forward(x (B, C, H, W), task (B,)) → (logits (B, n_classes), trace). ``explore=False`` takes each agent's
    most probable action (used for evaluation).
    """

    def __init__(self, trunk: nn.Module, fc: RoutedFC, router: Router) -> None:
        super().__init__()
        if len(router.n_actions) != len(fc.decisions) or router.n_actions != fc.n_actions:
            raise ValueError(f"router actions {router.n_actions} do not match the routed layers' {fc.n_actions}")
        self.trunk, self.fc, self.router = trunk, fc, router

    def block_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by backprop on the task loss (trunk and function blocks, not the router)."""
        return list(self.trunk.parameters()) + list(self.fc.parameters())

    def forward(self, x: torch.Tensor, task: torch.Tensor, explore: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, Trace]:
        v = self.trunk(x)
        trace = self.router.start(_on_cpu(v.detach()), _on_cpu(task), explore, generator)
        for d in range(len(self.fc.decisions)):
            actions = self.router.act(d, _on_cpu(v), trace, explore, generator)
            v = self.fc.apply(d, actions, v)
        return v, trace


class SoftNetwork(nn.Module):
    """A convolutional trunk followed by soft columns (cross-stitch or soft mixture).
    forward(x, task) → (logits, None)."""

    def __init__(self, trunk: nn.Module, fc: ColumnFC) -> None:
        super().__init__()
        self.trunk, self.fc = trunk, fc

    def block_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def forward(self, x: torch.Tensor, task: torch.Tensor, explore: bool = True,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, None]:
        return self.fc(self.trunk(x), task), None


def _on_cpu(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself on the CPU (the CPU path is unchanged), else a detached CPU copy for the router."""
    return t if t.device.type == "cpu" else t.detach().cpu()


def place(model: RoutingNetwork | SoftNetwork, device: torch.device | str) -> RoutingNetwork | SoftNetwork:
    """``model`` moved to ``device``, except a routing network's router, which stays on the CPU.

    The routers are CPU programs: the tabular agents keep NumPy tables and update them sample by sample, in batch
    order (Algorithm 3), and every router samples its actions from the run's CPU generator, so a seed draws the same
    random numbers on any device. On a GPU the trunk and the function blocks run there; per routing decision only
    the (B, d) state goes to the CPU and the two permutations of the batch come back
    (:func:`~mtlnotes.routing.layers.grouped_apply`).
    """
    if isinstance(model, RoutingNetwork):
        model.trunk.to(device)
        model.fc.to(device)
        return model
    return model.to(device)


def train_step(model: RoutingNetwork | SoftNetwork, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y: torch.Tensor, task: torch.Tensor, collaboration: CollaborationReward | None = None,
               gamma: float = 1.0, generator: torch.Generator | None = None) -> dict:
    """One step of Algorithm 2 on a batch: route (sampling actions), backprop the cross-entropy through the
    chosen blocks and the trunk (SGD step of ``optimizer``), then train the router on the trace with the final
    ±1 reward and the collaboration reward. Returns the batch's loss and training accuracy."""
    model.train()
    logits, trace = model(x, task, explore=True, generator=generator)
    loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    final = final_reward(logits.detach().cpu(), y.cpu())
    if trace is not None and isinstance(model, RoutingNetwork):
        actions = trace.actions
        if collaboration is not None:
            immediate = collaboration.rewards(actions)
            collaboration.observe(trace.probs)
        else:
            immediate = torch.zeros(actions.shape, dtype=torch.float32)
        model.router.update(trace, immediate, final, discounted_returns(immediate, final, gamma))
    return {"loss": float(loss.detach()), "accuracy": float((final > 0).float().mean())}


@torch.no_grad()
def predict_tasks(model: RoutingNetwork | SoftNetwork, x: torch.Tensor, task: torch.Tensor,
                  batch_size: int = 1000, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Greedy routing over a dataset in batches: (logits (N, C), actions (N, D) or None for soft networks)."""
    model.eval()
    logits, acts = [], []
    for s in range(0, len(x), batch_size):
        out, trace = model(x[s:s + batch_size].to(device), task[s:s + batch_size].to(device), explore=False)
        logits.append(out.cpu())
        if trace is not None:
            acts.append(trace.actions.cpu())
    return torch.cat(logits), (torch.cat(acts) if acts else None)
