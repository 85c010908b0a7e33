"""Quality indicators of solution sets (Li & Yao, 2019), as used by Zhang et al. (ICANN 2021, §4.1).

* :func:`hypervolume` — the volume dominated by a set and bounded by a reference point (Zitzler et al.),
  exact, by recursive slicing over the last objective (fine for the 2-3 objectives and ≤ a few hundred
  points here). Zhang et al. normalise objectives with a pseudo Pareto front (all non-dominated solutions of
  all trials) and use the reference ("nadir") point (1.1, ..., 1.1): see :func:`normalize`.
* :func:`pure_diversity` — PD of Wang, Jin & Yao (2017, Eq. 5) with the L_0.1 dissimilarity.
* :func:`spacing` — Schott's (1995) spacing: standard deviation of nearest-neighbour L1 distances.
* :func:`wilcoxon_sign` — "+", "≈" or "-" by the Wilcoxon rank-sum test (scipy) at level 0.05.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ranksums

__all__ = ["check_objectives", "nondominated_mask", "normalize", "hypervolume", "pure_diversity", "spacing",
           "wilcoxon_sign"]


def check_objectives(F, min_rows: int = 0) -> np.ndarray:
    """F as a float (N, M) objective matrix (one row per solution, minimisation), with N ≥ ``min_rows`` and every
    entry finite; a one-line ValueError saying what is wrong otherwise. The one validator of the fairness
    package (indicators and NSGA-II)."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"expected an (N, M) objective matrix, got shape {F.shape}")
    if len(F) < min_rows:
        raise ValueError(f"need at least {min_rows} points, got {len(F)}")
    if not np.isfinite(F).all():
        raise ValueError("objective matrix contains NaN or inf")
    return F


def _dominated_by_any(A: np.ndarray, B: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """For each row of ``B``: is it dominated by some row of ``A``? (minimisation) (len(B),) bool."""
    out = np.zeros(len(B), dtype=bool)
    for start in range(0, len(A), chunk):
        a = A[start:start + chunk, None, :]
        out |= ((a <= B[None]).all(-1) & (a < B[None]).any(-1)).any(0)
    return out


def nondominated_mask(F, block: int = 1024) -> np.ndarray:
    """True for rows not dominated by any other row (minimisation; duplicates are all kept). (N,) bool.

    Rows are swept in lexicographic order, where a row can only be dominated by an earlier one, in blocks
    checked against the non-dominated rows found so far: memory grows with ``block`` × the front's size, not
    with N² (the paper-profile analysis filters about 150,000 points)."""
    F = check_objectives(F)
    n = len(F)
    if n <= block:
        return ~_dominated_by_any(F, F)
    order = np.lexsort(F.T[::-1])  # by the first objective, then the second, ...
    S = F[order]
    keep = np.zeros(n, dtype=bool)
    front = S[:0]
    for start in range(0, n, block):
        B = S[start:start + block]
        # a dominated row is also dominated by a kept (non-dominated) row, which comes earlier in this order
        dominated = _dominated_by_any(front, B) | _dominated_by_any(B, B)
        keep[start:start + len(B)] = ~dominated
        front = np.concatenate([front, B[~dominated]])
    mask = np.empty(n, dtype=bool)
    mask[order] = keep
    return mask


def normalize(F, ideal, nadir) -> np.ndarray:
    """``(F - ideal) / (nadir - ideal)`` per objective (a zero range is treated as 1)."""
    F = check_objectives(F)
    ideal, nadir = np.asarray(ideal, float), np.asarray(nadir, float)
    if ideal.shape != (F.shape[1],) or nadir.shape != (F.shape[1],):
        raise ValueError(f"ideal/nadir must have {F.shape[1]} entries, got {ideal.shape}, {nadir.shape}")
    span = np.where(nadir - ideal > 0, nadir - ideal, 1.0)
    return (F - ideal) / span


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    n, m = points.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - points[:, 0].min())
    if m == 2:
        pts = points[np.argsort(points[:, 0], kind="stable")]
        vol, best_y = 0.0, ref[1]
        for x, y in pts:
            if y < best_y:
                vol += (ref[0] - x) * (best_y - y)
                best_y = y
        return vol
    pts = points[np.argsort(points[:, -1], kind="stable")]
    vol = 0.0
    for i in range(n):
        upper = pts[i + 1, -1] if i + 1 < n else ref[-1]
        depth = upper - pts[i, -1]
        if depth > 0:
            vol += depth * _hv(pts[:i + 1, :-1], ref[:-1])
    return vol


def hypervolume(F, ref) -> float:
    """Exact hypervolume of ``F`` (N, M) w.r.t. reference point ``ref`` (M,), minimisation.

    Points that do not strictly dominate ``ref`` contribute nothing.
    """
    F = check_objectives(F)
    ref = np.asarray(ref, dtype=float)
    if ref.shape != (F.shape[1],):
        raise ValueError(f"reference point must have {F.shape[1]} entries, got shape {ref.shape}")
    inside = (F < ref).all(1)
    F = F[inside]
    if len(F) == 0:
        return 0.0
    F = F[nondominated_mask(F)]
    return _hv(np.unique(F, axis=0), ref)


def _minkowski(F: np.ndarray, p: float) -> np.ndarray:
    diff = np.abs(F[:, None, :] - F[None, :, :])
    return (diff ** p).sum(-1) ** (1.0 / p)


def pure_diversity(F, p: float = 0.1) -> float:
    """Pure diversity PD (Wang, Jin & Yao, 2017, Eq. 5) with the L_p dissimilarity (p = 0.1).

    Eq. 5 defines PD(X) = max_{s in X} [PD(X - s) + d(s, X - s)] (d: dissimilarity to the nearest other point),
    which is exponential to evaluate exactly. Like the widely used reference implementation (PlatEMO), we use
    the greedy linking procedure: repeatedly take the point whose nearest neighbour is farthest, add that
    distance and link the two, skipping links that would close a cycle in the graph of links made so far; a
    point that has been linked this way is not chosen again. This equals Eq. 5 on small cases (e.g. three
    collinear points) but is not guaranteed to equal the recursive maximum in general. One point: 0.
    """
    F = check_objectives(F, min_rows=1)
    n = len(F)
    if n == 1:
        return 0.0
    D = _minkowski(F, p)
    np.fill_diagonal(D, np.inf)
    component = np.arange(n)  # union-find style labels of the link graph

    def root(i: int) -> int:
        while component[i] != i:
            component[i] = component[component[i]]
            i = component[i]
        return i

    active = np.ones(n, dtype=bool)
    score = 0.0
    for _ in range(n - 1):
        while True:
            rows = np.where(active)[0]
            sub = D[rows]
            j_of = sub.argmin(1)
            d_of = sub[np.arange(len(rows)), j_of]
            k = int(np.argmax(d_of))
            i, j, d = int(rows[k]), int(j_of[k]), float(d_of[k])
            if root(i) != root(j):
                break
            D[i, j] = D[j, i] = np.inf  # would close a cycle: forget this pair and look again
        component[root(i)] = root(j)
        active[i] = False
        score += d
    return score


def spacing(F) -> float:
    """Schott's spacing: sqrt(Σ (d̄ - d_i)² / (N - 1)), d_i = L1 distance to the nearest other point."""
    F = check_objectives(F, min_rows=2)
    D = np.abs(F[:, None, :] - F[None, :, :]).sum(-1)
    np.fill_diagonal(D, np.inf)
    d = D.min(1)
    return float(np.sqrt(((d - d.mean()) ** 2).sum() / (len(F) - 1)))


def smallest_ranksum_pvalue(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the rank-sum test can give for samples of sizes ``n_a`` and ``n_b``
    (complete separation): below ``level`` only when the samples are large enough to show a difference."""
    return float(ranksums(np.arange(n_b, n_b + n_a), np.arange(n_b)).pvalue)


#: the sign of a comparison whose sample sizes cannot reach the significance level
INCONCLUSIVE = "?"


def wilcoxon_sign(ours, reference, higher_is_better: bool, level: float = 0.05) -> str:
    """"+" / "≈" / "-": is ``ours`` statistically better / similar / worse than ``reference``?

    Two-sided Wilcoxon rank-sum test (scipy.stats.ranksums) at ``level``; the direction comes from the means.
    Returns :data:`INCONCLUSIVE` ("?") when the sample sizes cannot reach ``level`` at all (e.g. 2 against 2
    trials): such a comparison says nothing, and must not read as "similar".
    """
    a, b = np.asarray(ours, float), np.asarray(reference, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 values per sample, got {len(a)} and {len(b)}")
    if not smallest_ranksum_pvalue(len(a), len(b)) < level:
        return INCONCLUSIVE
    if np.allclose(a, a[0]) and np.allclose(b, a[0]):
        return "≈"
    pvalue = ranksums(a, b).pvalue
    if not pvalue < level:
        return "≈"
    better = a.mean() > b.mean() if higher_is_better else a.mean() < b.mean()
    return "+" if better else "-"
