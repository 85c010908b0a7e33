"""Soft (all-blocks) alternatives to hard routing on the same fully connected layers.

* Cross-stitch (Misra et al., 2016) as described by Rosenbaum et al. (2018, §4): one column of fc layers per
  task; the input of block i of layer l is ``sum_j w^l_ij v_{l-1,j}`` with learned weights ``w^l`` (K, K).
* Soft mixture (*soft-mixture-all-fc*, §4's prose, simplified): the same, but the weights are a softmax shared by
  all blocks of a layer, ``w^l_i = softmax(a^l)`` for every i.
* Soft routing (*soft-routing-all-fc*, Table 4): the routed version's blocks, mixed by a softmax attention that
  per-task, per-depth MLPs compute from the input and the task (:class:`SoftRoutingFC`).

Every sample runs through all K columns, so the cost grows linearly with K (§4, Figures 13 and 15). The
columns are computed together with batched matrix products. Task t's prediction is column t's output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ColumnFC", "CrossStitchFC", "SoftMixtureFC", "SoftRoutingFC"]


class ColumnFC(nn.Module):
    """K parallel columns of fully connected layers ``in_features → hidden ... → n_classes`` with a mixing step
    between layers (defined by subclasses). forward(v (B, in_features), task (B,)) → logits (B, n_classes)."""

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_columns: int, n_layers: int = 3) -> None:
        super().__init__()
        if n_columns < 1 or n_layers < 2:
            raise ValueError(f"need n_columns >= 1 and n_layers >= 2, got {n_columns}, {n_layers}")
        sizes = [in_features] + [hidden] * (n_layers - 1) + [n_classes]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)  # the default initialisation of nn.Linear
            self.weights.append(nn.Parameter(torch.empty(n_columns, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_columns, 1, b).uniform_(-bound, bound)))
        self.n_columns, self.n_layers = n_columns, n_layers

    def mix(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """Inputs of layer ``layer``'s blocks from the previous layer's outputs h (K, B, d): → (K, B, d)."""
        raise NotImplementedError

    def columns(self, v: torch.Tensor) -> torch.Tensor:
        """All columns' outputs: v (B, in_features) → (K, B, n_classes)."""
        h = torch.relu(torch.einsum("bi,kio->kbo", v, self.weights[0]) + self.biases[0])
        for l in range(1, self.n_layers):
            h = torch.baddbmm(self.biases[l], self.mix(l, h), self.weights[l])
            if l < self.n_layers - 1:
                h = torch.relu(h)
        return h

    def forward(self, v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.n_columns):
            raise ValueError(f"task id {int(task.max())} out of range for {self.n_columns} tasks")
        out = self.columns(v)
        return out[task, torch.arange(v.shape[0], device=v.device)]


class CrossStitchFC(ColumnFC):
    """Cross-stitch units (Misra et al., 2016) before every fc layer after the first; ``stitch[l-1]`` (K, K) is
    initialised to ``same`` on the diagonal and ``(1 - same) / (K - 1)`` elsewhere (Misra et al. use 0.9/0.1)."""

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_columns: int, n_layers: int = 3,
                 same: float = 0.9) -> None:
        super().__init__(in_features, hidden, n_classes, n_columns, n_layers)
        k = n_columns
        init = torch.full((k, k), (1 - same) / (k - 1)) if k > 1 else torch.zeros(1, 1)
        init.fill_diagonal_(same if k > 1 else 1.0)
        self.stitch = nn.ParameterList(nn.Parameter(init.clone()) for _ in range(n_layers - 1))

    def mix(self, layer, h):
        return torch.einsum("ij,jbd->ibd", self.stitch[layer - 1], h)


class SoftMixtureFC(ColumnFC):
    """*soft-mixture-all-fc*, the **simplified** soft mixture: every block of layer l gets
    ``sum_j softmax(a^l)_j v_{l-1,j}`` with static logits ``a^l`` shared by all tasks and the blocks of a layer
    (§4's prose); ``a^l`` starts at zero (a uniform mixture). Not Table 4's version, whose mixture weights come
    from per-task networks that see the input, the task and the depth: that is :class:`SoftRoutingFC`."""

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_columns: int, n_layers: int = 3) -> None:
        super().__init__(in_features, hidden, n_classes, n_columns, n_layers)
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros(n_columns)) for _ in range(n_layers - 1))

    def mix(self, layer, h):
        m = torch.einsum("j,jbd->bd", torch.softmax(self.logits[layer - 1], 0), h)
        return m.unsqueeze(0).expand(self.n_columns, -1, -1)


class SoftRoutingFC(nn.Module):
    """*soft-routing-all-fc* as Table 4 describes it: the routed version's function blocks (``n_blocks`` per
    layer, :func:`~mtlnotes.routing.layers.fc_block`), with the hard choice replaced by a softmax attention over
    all blocks of the layer. The attention at depth d for a sample of task t comes from the approximator of agent
    t for depth d, a 2-layer MLP (hidden 64) on concat(v, one-hot(t)) (Table 4: "Num Tasks" agents, a vector
    of approx functions, state (v, t, d)). Layer output: Σ_j softmax(MLP_{t,d}(v, t))_j · block_j(v). Trained
    end to end by backpropagation (it is differentiable), so it needs no reward.

    forward(v (B, in_features), task (B,)) → logits (B, n_classes); :meth:`attention` gives the weights."""

    def __init__(self, in_features: int, hidden: int, n_classes: int, n_blocks: int, n_tasks: int,
                 n_layers: int = 3, approx_hidden: int = 64) -> None:
        super().__init__()
        from mtlnotes.routing.layers import fc_block
        if n_blocks < 1 or n_tasks < 1 or n_layers < 2:
            raise ValueError(f"need n_blocks, n_tasks >= 1 and n_layers >= 2, got {n_blocks}, {n_tasks}, "
                             f"{n_layers}")
        sizes = [in_features] + [hidden] * (n_layers - 1) + [n_classes]
        self.pools = nn.ModuleList(nn.ModuleList(fc_block(sizes[l], sizes[l + 1], l == n_layers - 1)
                                                 for _ in range(n_blocks)) for l in range(n_layers))
        self.w1 = nn.ParameterList()
        self.b1 = nn.ParameterList()
        self.w2 = nn.ParameterList()
        self.b2 = nn.ParameterList()
        for l in range(n_layers):  # one approximator per (task, depth), stored batched over tasks
            d_in = sizes[l] + n_tasks
            for store, shape, fan_in in ((self.w1, (n_tasks, d_in, approx_hidden), d_in),
                                         (self.b1, (n_tasks, 1, approx_hidden), d_in),
                                         (self.w2, (n_tasks, approx_hidden, n_blocks), approx_hidden),
                                         (self.b2, (n_tasks, 1, n_blocks), approx_hidden)):
                bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
                store.append(nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))
        self.n_tasks, self.n_layers = n_tasks, n_layers

    def attention(self, layer: int, v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """Softmax weights (B, n_blocks) over layer ``layer``'s blocks for inputs v (B, d) of tasks ``task``."""
        state = torch.cat([v, nn.functional.one_hot(task, self.n_tasks).to(v.dtype)], dim=1).unsqueeze(1)
        h = torch.relu(torch.bmm(state, self.w1[layer][task]) + self.b1[layer][task])
        return torch.softmax((torch.bmm(h, self.w2[layer][task]) + self.b2[layer][task]).squeeze(1), dim=1)

    def forward(self, v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.n_tasks):
            raise ValueError(f"task id {int(task.max())} out of range for {self.n_tasks} tasks")
        for layer, pool in enumerate(self.pools):
            a = self.attention(layer, v, task)
            v = torch.einsum("bk,kbo->bo", a, torch.stack([block(v) for block in pool]))
        return v
