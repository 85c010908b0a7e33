"""Routed layers (Rosenbaum et al., 2018, §3 and Algorithm 1): pools of function blocks and batched routing.

A routing decision picks one block per sample. Routing is batched: the samples of a batch are grouped by
their chosen block and every chosen block runs once on its group, so the cost of a routed layer does not
grow with the number of blocks it holds (only blocks that were chosen run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["grouped_apply", "fc_block", "Decision", "RoutedFC", "PASS"]

PASS = "PASS"


def grouped_apply(fns: Sequence[Callable[[torch.Tensor], torch.Tensor]], choice: torch.Tensor,
                  x: torch.Tensor) -> torch.Tensor:
    """Row ``b`` of the result is ``fns[choice[b]](x[b])``; each function runs once, on its group of rows.

    x (B, d_in), choice (B,) int64 in ``[0, len(fns))`` → (B, d_out). Differentiable in ``x`` and in the
    functions' parameters. All functions must return the same number of features. ``choice`` may lie on the CPU
    while ``x`` and the functions lie on a GPU (the router runs on the CPU, see
    :func:`~mtlnotes.routing.network.place`): the grouping is computed on the CPU and only the two permutations
    cross to the GPU.
    """
    if choice.ndim != 1 or choice.shape[0] != x.shape[0]:
        raise ValueError(f"choice must be (B,) for x of {x.shape[0]} rows, got {tuple(choice.shape)}")
    if x.shape[0] == 0:
        raise ValueError("grouped_apply got an empty batch")
    if int(choice.min()) < 0 or int(choice.max()) >= len(fns):
        raise ValueError(f"block index {int(choice.max()) if int(choice.min()) >= 0 else int(choice.min())} "
                         f"out of range for {len(fns)} blocks")
    order = torch.argsort(choice, stable=True)
    counts = torch.bincount(choice, minlength=len(fns)).tolist()
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=order.device)
    if order.device != x.device:  # choices made on the CPU (the router's device) for blocks on a GPU
        order, inverse = order.to(x.device), inverse.to(x.device)
    groups = x.index_select(0, order).split(counts)
    outs = [fns[k](g) for k, g in enumerate(groups) if counts[k] > 0]
    y_sorted = torch.cat(outs) if len(outs) > 1 else outs[0]
    return y_sorted.index_select(0, inverse)


def fc_block(d_in: int, d_out: int, last: bool) -> nn.Module:
    """A fully connected function block: Linear, followed by ReLU unless it is the classification layer."""
    return nn.Linear(d_in, d_out) if last else nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU())


@dataclass(frozen=True)
class Decision:
    """One routing decision (one router invocation): which pool of blocks it chooses from, and whether the
    PASS action (leave the representation unchanged, Appendix 7.2) is available as an extra, last action."""

    pool: int
    allow_pass: bool = False


class RoutedFC(nn.Module):
    """The routed fully connected layers of the routed SimpleConvNet (Rosenbaum et al., 2018, §4).

    ``pools[l]`` holds ``n_blocks[l]`` blocks for layer ``l`` of ``in_features → hidden → ... → n_classes``.
    ``recursive=False`` (layered routing, *routing-all-fc*): decision ``l`` picks among layer-``l`` blocks.
    ``recursive=True`` (*routing-all-fc recursive/+PASS*): the dimension-preserving (hidden → hidden) blocks
    form one pool that the router visits ``n_recursive`` times, with PASS available; the first and last layers
    stay layered (their input / output dimensions differ).
    """

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_blocks: int | Sequence[int],
                 n_layers: int = 3, recursive: bool = False, n_recursive: int = 2) -> None:
        super().__init__()
        if n_layers < 2:
            raise ValueError(f"need at least 2 routed layers, got {n_layers}")
        sizes = [in_features] + [hidden] * (n_layers - 1) + [n_classes]
        if isinstance(n_blocks, int):
            n_blocks = [n_blocks] * n_layers
        if len(n_blocks) != n_layers or min(n_blocks) < 1:
            raise ValueError(f"n_blocks must give a positive count for each of the {n_layers} layers, got {n_blocks}")
        self.pools = nn.ModuleList(
            nn.ModuleList(fc_block(sizes[l], sizes[l + 1], l == n_layers - 1) for _ in range(n_blocks[l]))
            for l in range(n_layers))
        if not recursive:
            self.decisions = tuple(Decision(l) for l in range(n_layers))
        else:
            if n_layers != 3:
                raise ValueError("the recursive variant is defined for 3 routed layers (one hidden→hidden pool)")
            self.decisions = (Decision(0),) + tuple(Decision(1, True) for _ in range(n_recursive)) + (Decision(2),)
        self.in_features, self.hidden, self.n_classes = in_features, hidden, n_classes

    @property
    def n_actions(self) -> list[int]:
        """Number of actions at each decision (blocks of its pool, plus PASS where allowed)."""
        return [len(self.pools[d.pool]) + int(d.allow_pass) for d in self.decisions]

    def apply(self, d: int, actions: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Apply decision ``d``'s chosen blocks: v (B, d_in), actions (B,) → (B, d_out). PASS is the last action."""
        dec = self.decisions[d]
        fns: list[Callable] = list(self.pools[dec.pool])
        if dec.allow_pass:
            fns.append(lambda z: z)
        return grouped_apply(fns, actions, v)

    def forward_actions(self, v: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Run every decision with given actions (B, D): v (B, in_features) → logits (B, n_classes)."""
        for d in range(len(self.decisions)):
            v = self.apply(d, actions[:, d], v)
        return v
