"""Small solvers over the probability simplex Δ_K = {w ≥ 0, Σ w = 1}, on K×K Gram matrices (float64 numpy).

* :func:`project_simplex` — Euclidean projection onto Δ_K (the sort-based algorithm of Duchi et al., 2008).
* :func:`min_norm_weights` — the minimum-norm point of the convex hull of K gradients, min_{w∈Δ} wᵀ M w with
  M = G Gᵀ (the MGDA subproblem of Sener & Koltun, 2018, Eq. 3; Désidéri, 2012). Closed form for K = 2,
  otherwise Wolfe's (1976) minimum-norm-point algorithm (an exact active-set method working on M only),
  stopped when the optimality gap wᵀMw − min_i (Mw)_i ≤ tol · max_i M_ii.
"""

from __future__ import annotations

import numpy as np

from mtlnotes.weighting.threads import one_thread

__all__ = ["project_simplex", "min_norm_weights"]


def project_simplex(v: np.ndarray) -> np.ndarray:
    """argmin_{w ∈ Δ} ||w − v||₂ for v (K,)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"v must be a non-empty vector, got shape {v.shape}")
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ks = np.arange(1, v.size + 1)
    rho = np.nonzero(u - css / ks > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1), 0.0)


def _check_gram(gram: np.ndarray) -> np.ndarray:
    gram = np.asarray(gram, dtype=np.float64)
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(f"gram must be a square (K, K) matrix, got shape {gram.shape}")
    if not np.isfinite(gram).all():
        raise ValueError("gram matrix has non-finite entries")
    return gram


def min_norm_weights(gram: np.ndarray, tol: float = 1e-12, max_iter: int = 100_000) -> np.ndarray:
    """w* = argmin_{w∈Δ} wᵀ M w for a PSD Gram matrix M (K, K); returns w* (K,).

    The minimiser need not be unique (e.g. duplicated gradients) but the min-norm point Gᵀw* is.
    Raises RuntimeError if the duality gap is not below ``tol`` after ``max_iter`` iterations.
    """
    m = _check_gram(gram)
    k = m.shape[0]
    if k == 1:
        return np.ones(1)
    scale = float(np.max(np.diag(m)))
    if scale <= 0:  # every gradient is zero: any w is optimal
        return np.full(k, 1.0 / k)
    m = m / scale
    if k == 2:
        denom = m[0, 0] + m[1, 1] - 2 * m[0, 1]  # ||g0 - g1||²
        if denom <= 1e-300:
            return np.array([0.5, 0.5])
        w0 = float(np.clip((m[1, 1] - m[0, 1]) / denom, 0.0, 1.0))
        return np.array([w0, 1.0 - w0])
    with one_thread():  # K×K work: threads only add synchronisation
        return _wolfe(m, tol, max_iter)


def _wolfe(m: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Wolfe's (1976) minimum-norm-point iterations on a scaled Gram matrix m (K, K), K >= 3."""
    k = m.shape[0]
    x = np.zeros(k)
    support = [int(np.argmin(np.diag(m)))]
    x[support[0]] = 1.0
    for _ in range(max_iter):
        mx = m @ x
        j = int(np.argmin(mx))
        if mx[j] >= x @ mx - tol or j in support:
            return x
        support.append(j)
        while True:  # minor cycle: affine min-norm point of the support, kept inside the hull
            s = np.array(support)
            kkt = np.zeros((len(s) + 1, len(s) + 1))
            kkt[:-1, :-1] = m[np.ix_(s, s)]
            kkt[:-1, -1] = 1.0
            kkt[-1, :-1] = 1.0
            rhs = np.zeros(len(s) + 1)
            rhs[-1] = 1.0
            y = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:-1]
            if (y > 1e-15).all():
                x = np.zeros(k)
                x[s] = y
                break
            xs = x[s]
            neg = y <= 1e-15
            theta = float(np.min(xs[neg] / (xs[neg] - y[neg])))
            xs = xs + theta * (y - xs)
            x = np.zeros(k)
            x[s] = xs
            support = [int(i) for i, v in zip(s, xs) if v > 1e-15]
            x[x <= 1e-15] = 0.0
            x /= x.sum()
    raise RuntimeError(f"min-norm solver did not converge after {max_iter} iterations")
