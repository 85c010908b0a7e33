"""Multi-task summary metrics used to compare weighting methods (Navon et al., 2022, §6, Tables 2 and 3).

Δm% (Maninis et al., 2019, as used by Navon et al., 2022, §6): Δm = (1/K) Σ_k (−1)^{δ_k} (M_m,k − M_b,k) / M_b,k
× 100, where M_b is the single-task baseline and δ_k = 1 when higher is better; lower is better.
Mean rank (MR): the average over metrics of each method's rank among the compared methods (1 = best).

>>> delta_m({"A": [1.5, 0.25]}, baseline=[1.0, 0.5], higher_is_better=[True, False])
{'A': -50.0}
>>> mean_rank({"A": [1.0, 3.0], "B": [2.0, 3.0], "C": [0.5, 1.0]}, higher_is_better=[True, False])
{'A': 2.25, 'B': 1.75, 'C': 2.0}
"""

from __future__ import annotations

import numpy as np

__all__ = ["delta_m", "mean_rank"]


def delta_m(values: dict[str, list[float]], baseline: list[float], higher_is_better: list[bool]) -> dict[str, float]:
    """Δm% of each method against ``baseline`` (see the module docstring); lower is better."""
    out = {}
    for name, v in values.items():
        terms = [(-1.0 if hib else 1.0) * (m - b) / b for m, b, hib in zip(v, baseline, higher_is_better)]
        out[name] = 100.0 * float(np.mean(terms))
    return out


def mean_rank(values: dict[str, list[float]], higher_is_better: list[bool]) -> dict[str, float]:
    """Mean over metrics of each method's rank (1 = best; ties share the average rank)."""
    names = list(values)
    ranks = np.zeros((len(names), len(higher_is_better)))
    for j, hib in enumerate(higher_is_better):
        col = np.array([values[n][j] for n in names])
        key = -col if hib else col
        for i in range(len(names)):
            ranks[i, j] = 1 + np.sum(key < key[i]) + 0.5 * (np.sum(key == key[i]) - 1)
    return {n: float(ranks[i].mean()) for i, n in enumerate(names)}
