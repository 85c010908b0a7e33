"""Hard parameter sharing (Caruana, 1997): one shared trunk, one head per task."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["HardSharingNet", "SingleTaskNet"]


class HardSharingNet(nn.Module):
    """``trunk`` shared by all tasks, ``heads[k]`` for task k. ``forward(x)`` returns the list of K outputs.

    ``shared_parameters()`` / ``task_parameters()`` separate the two groups (gradient-aggregation methods
    act on the shared group only).
    """

    def __init__(self, trunk: nn.Module, heads: Sequence[nn.Module]) -> None:
        super().__init__()
        if not heads:
            raise ValueError("need at least one head")
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    @property
    def n_tasks(self) -> int:
        return len(self.heads)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = self.trunk(x)
        return [head(z) for head in self.heads]

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self) -> list[nn.Parameter]:
        return [p for head in self.heads for p in head.parameters()]


class SingleTaskNet(nn.Module):
    """A trunk and one head: the independent single-task baseline."""

    def __init__(self, trunk: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))
