"""Batch orders for training one network on several question types (He et al., ICANN 2021, §3.5).

When tasks share only the network, not the inputs, an epoch is a sequence of single-task batches. Task
``l`` has ``M_l`` batches ``b_1^(l), ..., b_{M_l}^(l)``; an order is a list of ``(task, r)`` pairs (0-based),
each batch appearing exactly once.

* :func:`rrbs_order` — round-robin batch-level sampling (Eq. 8): one batch of task 1, one of task 2, ...,
  one of task L, again, skipping tasks whose batches are used up.
* :func:`mql_order` — Multi-type Question Learning (Eq. 9): per round, ``F_l`` batches of task ``l`` in
  turn, with task ratios ``F_l = floor(M_l / M_min)`` (:func:`mql_ratios`), until every batch is visited.

    >>> mql_ratios([3, 12, 14])
    [1, 4, 4]
    >>> rrbs_order([2, 1])
    [(0, 0), (1, 0), (0, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["mql_ratios", "mql_order", "rrbs_order", "ratio_order", "SCHEDULES"]


def _check_counts(counts: Sequence[int]) -> list[int]:
    m = [int(c) for c in counts]
    if not m:
        raise ValueError("need the numbers of batches of at least one task, got none")
    if any(c < 1 for c in m) or any(int(c) != c for c in counts):
        raise ValueError(f"every task needs a positive whole number of batches, got {list(counts)}")
    return m


def mql_ratios(counts: Sequence[int]) -> list[int]:
    """Task ratios of MQL, ``F_l = floor(M_l / M_min)`` with ``M_min = min_l M_l`` (§3.5, after Eq. 9)."""
    m = _check_counts(counts)
    m_min = min(m)
    return [c // m_min for c in m]


def ratio_order(counts: Sequence[int], ratios: Sequence[int]) -> list[tuple[int, int]]:
    """Rounds of ``ratios[l]`` consecutive batches of task ``l`` (l = 0..L-1), until every batch is used (Eq. 9).

    A task whose batches run out mid-round contributes what it has left; later rounds skip it.
    ``ratios`` all ones gives the round-robin order of Eq. 8.
    """
    m = _check_counts(counts)
    f = [int(r) for r in ratios]
    if len(f) != len(m):
        raise ValueError(f"need one ratio per task: {len(m)} tasks, {len(f)} ratios")
    if any(r < 1 for r in f):
        raise ValueError(f"ratios must be positive integers, got {list(ratios)}")
    used = [0] * len(m)
    order: list[tuple[int, int]] = []
    while any(u < c for u, c in zip(used, m)):
        for task, (c, r) in enumerate(zip(m, f)):
            take = min(r, c - used[task])
            order.extend((task, used[task] + i) for i in range(take))
            used[task] += take
    return order


def rrbs_order(counts: Sequence[int]) -> list[tuple[int, int]]:
    """Round-robin batch-level sampling (Eq. 8): ``b_1^(1), b_1^(2), ..., b_1^(L), b_2^(1), ...``."""
    return ratio_order(counts, [1] * len(_check_counts(counts)))


def mql_order(counts: Sequence[int]) -> list[tuple[int, int]]:
    """Multi-type Question Learning (Eq. 9): rounds of ``F_l = floor(M_l / M_min)`` batches of each task."""
    return ratio_order(counts, mql_ratios(counts))


#: the two batch orders by name, as experiments refer to them
SCHEDULES = {"mql": mql_order, "rrbs": rrbs_order}
