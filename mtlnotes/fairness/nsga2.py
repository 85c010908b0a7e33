"""The NSGA-II pieces the MOEL framework needs (Deb et al., 2002), on objective matrices ``F`` (N, M), minimised.

Non-dominated sorting comes from pymoo; crowding distance, rank-and-crowding survival and the binary
tournament are small functions here because the framework (Zhang et al., 2021, Alg. 1) interleaves them with
batched partial training of the models, which pymoo's ``minimize`` loop cannot do.
"""

from __future__ import annotations

import numpy as np
import torch
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from mtlnotes.fairness.indicators import check_objectives

__all__ = ["nondominated_ranks", "crowding_distance", "rank_and_crowding", "survival", "binary_tournament",
           "single_objective_keys"]


def nondominated_ranks(F) -> np.ndarray:
    """Front index of every row (0 = non-dominated), by pymoo's fast non-dominated sort. (N,) int."""
    F = check_objectives(F, min_rows=1)
    fronts = NonDominatedSorting().do(F)
    rank = np.empty(len(F), dtype=int)
    for r, front in enumerate(fronts):
        rank[front] = r
    return rank


def crowding_distance(F) -> np.ndarray:
    """Crowding distance within one front (Deb et al., 2002, §III-B); boundary points get ``inf``. (N,)

    Each objective's gaps are divided by that objective's range in the front (zero range contributes 0).
    """
    F = check_objectives(F, min_rows=1)
    n, m = F.shape
    if n <= 2:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        f = F[order, j]
        span = f[-1] - f[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (f[2:] - f[:-2]) / span
    return dist


def rank_and_crowding(F) -> tuple[np.ndarray, np.ndarray]:
    """(rank, crowding distance computed front by front) for every row of ``F``."""
    rank = nondominated_ranks(F)
    crowd = np.empty(len(rank))
    for r in np.unique(rank):
        members = np.flatnonzero(rank == r)
        crowd[members] = crowding_distance(F[members])
    return rank, crowd


def single_objective_keys(f) -> tuple[np.ndarray, np.ndarray]:
    """(rank, crowding) stand-ins for one objective: rank = position in the sorted order, no crowding."""
    f = np.asarray(f, dtype=float).reshape(-1)
    rank = np.empty(len(f), dtype=int)
    rank[np.argsort(f, kind="stable")] = np.arange(len(f))
    return rank, np.zeros(len(f))


def survival(F, n_survive: int) -> np.ndarray:
    """NSGA-II environmental selection: whole fronts in rank order, the last one cut by crowding distance.

    With one objective this is the top-``n_survive`` by that objective (the F_E baseline, Zhang et al. §4.1).
    Returns the indices of the survivors (sorted by rank, then decreasing crowding).
    """
    F = check_objectives(F, min_rows=1)
    if not 1 <= n_survive <= len(F):
        raise ValueError(f"cannot keep {n_survive} of {len(F)} individuals")
    rank, crowd = single_objective_keys(F[:, 0]) if F.shape[1] == 1 else rank_and_crowding(F)
    order = np.lexsort((-crowd, rank))  # primary key rank, then larger crowding first
    return order[:n_survive]


def binary_tournament(rank: np.ndarray, crowd: np.ndarray, n_select: int, generator: torch.Generator) -> np.ndarray:
    """Crowded binary tournament (Deb et al., 2002): lower rank wins, then larger crowding, then the first drawn.

    Draws come from ``generator`` (torch) so a run is reproducible from one seeded generator. (n_select,) int.
    """
    n = len(rank)
    if n < 1 or n_select < 1:
        raise ValueError(f"need a non-empty population and n_select >= 1, got {n}, {n_select}")
    pairs = torch.randint(n, (n_select, 2), generator=generator).numpy()
    a, b = pairs[:, 0], pairs[:, 1]
    a_wins = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowd[a] >= crowd[b]))
    return np.where(a_wins, a, b)
