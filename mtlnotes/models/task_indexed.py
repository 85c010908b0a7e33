"""Networks whose forward takes a task index, ``model(inputs, task)``: one task's batch at a time, the way a task
selection policy trains (Glover & Hokamp, 2019, "Task Selection Policies for Multitask Learning", §4.2).

:class:`SharedTrunkMLP` is the network of the task selection chapter's offline suite (a stand-in for GLUE):
hard sharing of an MLP trunk over flattened 28×28 images, one linear head per task. :class:`GlueMultiTaskModel`
is §4.2's GLUE model: a shared encoder (BERT-base in the paper) and one linear head per task on the first
token's final hidden vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtlnotes.models.backbones import MLP

__all__ = ["SharedTrunkMLP", "GlueMultiTaskModel"]


class SharedTrunkMLP(nn.Module):
    """Hard sharing: an MLP trunk over flattened 28×28 images, one linear head per task.

    ``forward(x, task)``: x (B, 1, 28, 28) or (B, 784) -> logits (B, n_classes[task]).
    """

    def __init__(self, hidden: tuple[int, ...], n_classes: tuple[int, ...]) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Flatten(), MLP([784, *hidden]), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden[-1], c) for c in n_classes)

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return self.heads[task](self.trunk(x))


class GlueMultiTaskModel(nn.Module):
    """A shared encoder and one linear head per GLUE task on the first token's final hidden vector (§4.2).

    ``encoder(**inputs).last_hidden_state`` is (B, L, hidden); ``forward(inputs, task)`` -> (B, n_labels[task]).
    """

    def __init__(self, encoder: nn.Module, hidden: int, n_labels: Sequence[int]) -> None:
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in n_labels)

    def forward(self, inputs: dict, task: int) -> torch.Tensor:
        h = self.encoder(**inputs).last_hidden_state[:, 0]
        return self.heads[task](h)
