"""The QM9 graph network of the Nash-MTL experiments (Navon et al., 2022, §6.2): the message-passing neural network
of Gilmer et al. (2017) as in PyTorch Geometric's QM9 example, which the official Nash-MTL code uses.

Shared encoder (this module's :class:`MPNNEncoder`)::

    h⁰ = ReLU(W₀ x)                                   (node features -> dim)
    3 × [ m = mean_{j ∈ N(i)} Θ(e_ij) hʲ  (edge network Θ: e -> dim×dim, "NNConv");  h = GRU(ReLU(m), h) ]
    r = Set2Set(h, 3 steps)                           (graph read-out, 2·dim)
    z = ReLU(W₁ r)                                    (dim)

and one linear head per task (``nn.Linear(dim, 1)``), i.e. the official model's last layer split by task.

Why not PyTorch Geometric: it is not installed in this book's environment and cannot be installed offline here; the
three pieces needed (NNConv with mean aggregation, Set2Set, batching of graphs) are a few lines of ``index_add_`` and
are written out below, which also keeps them working under ``torch.func.vmap`` for the per-task gradient engine.

Graphs come from the official ``.xyz`` files (:mod:`mtlnotes.data.qm9`), which hold atoms and positions but no bonds.
PyTorch Geometric builds its QM9 graphs from an SDF with RDKit bond types; here (documented difference) every
molecule is a complete graph (as the example's ``T.Complete()`` makes it) whose edge features are
``[bonded, distance]``, "bonded" meaning d_ij ≤ 1.15 (r_i + r_j) with covalent radii r (Cordero et al., 2008), and the
node features are the element one-hot (H, C, N, O, F), the atomic number and the number of bonded hydrogens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["GraphBatch", "molecule_graph", "collate_graphs", "NNConv", "Set2Set", "MPNNEncoder", "COVALENT_RADII",
           "NODE_FEATURES", "EDGE_FEATURES"]

#: Covalent radii in Å (Cordero et al., 2008) of the QM9 elements, by atomic number.
COVALENT_RADII = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57}
_ONE_HOT = (1, 6, 7, 8, 9)
NODE_FEATURES = 7
EDGE_FEATURES = 2


@dataclass
class GraphBatch:
    """Several graphs as one: node features ``x`` (N, F), ``edge_index`` (2, E) (source, target), edge features
    ``edge_attr`` (E, F_e), ``batch`` (N,) graph id of each node, ``n_graphs``."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    n_graphs: int

    def to(self, device: torch.device | str) -> "GraphBatch":
        return GraphBatch(self.x.to(device), self.edge_index.to(device), self.edge_attr.to(device),
                          self.batch.to(device), self.n_graphs)


def molecule_graph(z: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One molecule -> (x (n, 7), edge_index (2, n(n−1)), edge_attr (n(n−1), 2)); see the module docstring.

    ``z`` (n,) atomic numbers in {1, 6, 7, 8, 9}; ``pos`` (n, 3) in Å.
    """
    n = z.numel()
    if pos.shape != (n, 3):
        raise ValueError(f"pos must be ({n}, 3) for {n} atoms, got {tuple(pos.shape)}")
    unknown = sorted(set(z.tolist()) - set(COVALENT_RADII))
    if unknown:
        raise ValueError(f"atomic numbers {unknown} are not QM9 elements (H, C, N, O, F)")
    radii = torch.tensor([COVALENT_RADII[int(a)] for a in z], dtype=torch.float64)
    dist = torch.cdist(pos.double(), pos.double())
    bonded = (dist <= 1.15 * (radii[:, None] + radii[None, :])) & ~torch.eye(n, dtype=torch.bool)
    one_hot = (z[:, None] == torch.tensor(_ONE_HOT)[None, :]).double()
    n_h = (bonded & (z == 1)[None, :]).sum(1).double()
    x = torch.cat([one_hot, z.double()[:, None], n_h[:, None]], dim=1)
    src, dst = torch.nonzero(~torch.eye(n, dtype=torch.bool), as_tuple=True)
    edge_attr = torch.stack([bonded[src, dst].double(), dist[src, dst]], dim=1)
    return x.float(), torch.stack([src, dst]), edge_attr.float()


def collate_graphs(graphs: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> GraphBatch:
    """Concatenate graphs (as returned by :func:`molecule_graph`) into one :class:`GraphBatch`."""
    if not graphs:
        raise ValueError("need at least one graph")
    xs, eis, eas, batch, offset = [], [], [], [], 0
    for g, (x, ei, ea) in enumerate(graphs):
        xs.append(x)
        eis.append(ei + offset)
        eas.append(ea)
        batch.append(torch.full((x.shape[0],), g, dtype=torch.int64))
        offset += x.shape[0]
    return GraphBatch(torch.cat(xs), torch.cat(eis, 1), torch.cat(eas), torch.cat(batch), len(graphs))


def _scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    total = values.new_zeros((size, values.shape[-1])).index_add(0, index, values)
    count = values.new_zeros(size).index_add(0, index, torch.ones_like(index, dtype=values.dtype))
    return total / count.clamp(min=1)[:, None]


class NNConv(nn.Module):
    """Edge-conditioned convolution (Gilmer et al., 2017, "edge network"; PyG ``NNConv``, ``aggr="mean"``):
    h'_i = W_root h_i + mean_{j→i} reshape(Θ(e_ji), (in, out))ᵀ h_j + b."""

    def __init__(self, in_dim: int, out_dim: int, edge_net: nn.Module) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.edge_net = in_dim, out_dim, edge_net
        self.root = nn.Linear(in_dim, out_dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index[0], edge_index[1]
        theta = self.edge_net(edge_attr).view(-1, self.in_dim, self.out_dim)
        msg = torch.bmm(h[src].unsqueeze(1), theta).squeeze(1)
        return self.root(h) + _scatter_mean(msg, dst, h.shape[0])


class Set2Set(nn.Module):
    """Set2Set read-out (Vinyals et al., 2016; PyG ``Set2Set``): ``steps`` rounds of LSTM query, softmax attention
    over each graph's nodes and weighted sum; returns (n_graphs, 2·dim)."""

    def __init__(self, dim: int, steps: int = 3) -> None:
        super().__init__()
        self.dim, self.steps = dim, steps
        self.lstm = nn.LSTMCell(2 * dim, dim)

    def forward(self, h: torch.Tensor, batch: torch.Tensor, n_graphs: int) -> torch.Tensor:
        q_star = h.new_zeros(n_graphs, 2 * self.dim)
        state = (h.new_zeros(n_graphs, self.dim), h.new_zeros(n_graphs, self.dim))
        for _ in range(self.steps):
            state = self.lstm(q_star, state)
            q = state[0]
            e = (h * q[batch]).sum(-1)
            e_max = h.new_full((n_graphs,), -torch.inf).scatter_reduce(0, batch, e, "amax", include_self=True)
            a = torch.exp(e - e_max[batch].detach())
            a = a / h.new_zeros(n_graphs).index_add(0, batch, a)[batch]
            r = h.new_zeros(n_graphs, self.dim).index_add(0, batch, a[:, None] * h)
            q_star = torch.cat([q, r], dim=-1)
        return q_star


class MPNNEncoder(nn.Module):
    """The shared part of the QM9 network (module docstring): :class:`GraphBatch` -> (n_graphs, ``dim``)."""

    def __init__(self, node_features: int = NODE_FEATURES, edge_features: int = EDGE_FEATURES, dim: int = 64,
                 iterations: int = 3, set2set_steps: int = 3) -> None:
        super().__init__()
        self.dim, self.iterations = dim, iterations
        self.out_features = dim
        self.lin0 = nn.Linear(node_features, dim)
        self.conv = NNConv(dim, dim, nn.Sequential(nn.Linear(edge_features, 128), nn.ReLU(), nn.Linear(128, dim * dim)))
        self.gru = nn.GRUCell(dim, dim)
        self.set2set = Set2Set(dim, set2set_steps)
        self.lin1 = nn.Linear(2 * dim, dim)

    def forward(self, g: GraphBatch) -> torch.Tensor:
        h = torch.relu(self.lin0(g.x))
        for _ in range(self.iterations):
            m = torch.relu(self.conv(h, g.edge_index, g.edge_attr))
            h = self.gru(m, h)
        return torch.relu(self.lin1(self.set2set(h, g.batch, g.n_graphs)))
