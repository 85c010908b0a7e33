"""Closed forms of the gradient aggregators for two tasks, on many problems at once (NumPy, stacked along the first
axis).

With K = 2 every Gram-based rule of :mod:`mtlnotes.weighting` has a closed form in the three numbers of the Gram
matrix M = G Gᵀ (m₀₀ = ||g₀||², m₀₁ = g₀·g₁, m₁₁ = ||g₁||²), and PCGrad and GradDrop are a few element-wise
operations. Written for arrays of S problems (grads (S, 2, d), Gram matrices (S, 2, 2)), one call serves S runs.

Why these exist beside the classes: the illustrative example of Navon et al. (2022, §6.1) is a problem on ℝ², where
a step of a method costs interpreter time, not arithmetic — about 1 ms per start and method through the classes
(validation, a scipy SLSQP solve for CAGrad, tensors of two numbers), so the paper's 35,000 steps for eleven methods
and five starts would take half an hour. The batched toy engine (:mod:`mtlnotes.weighting.toy_batched`) calls these
instead. They are the same rules, not approximations: ``tests/test_weighting_two_task.py`` checks each against its
class (:class:`~mtlnotes.weighting.MGDA`, :class:`~mtlnotes.weighting.PCGrad`, :class:`~mtlnotes.weighting.CAGrad`,
:class:`~mtlnotes.weighting.IMTLG`, :class:`~mtlnotes.weighting.NashMTL`, :class:`~mtlnotes.weighting.GradDrop`) on
random, conflicting, aligned and collinear gradient pairs. Edge cases the classes answer with an error (a zero
gradient for IMTL-G, no bargaining solution for Nash-MTL) come back as NaN rows, for the caller to hand to the class.

* MGDA (Sener & Koltun, 2018, Eq. 3; their Algorithm 1 for two tasks): w₀ = clip((m₁₁ − m₀₁) / ||g₀ − g₁||², 0, 1).
* PCGrad (Yu et al., 2020, Algorithm 1): with two tasks the random order does not matter; each gradient loses its
  component along the other when they conflict: α_i = 1 − min(0, m₀₁) / m_jj.
* CAGrad (Liu et al., 2021, Eq. 3, the dual): F(w) = w b₀ + (1 − w) b₁ + √φ √q(w) on w ∈ [0, 1], q(w) = ||w g₀ +
  (1 − w) g₁||² = A w² + 2 B w + C (A = ||g₀ − g₁||², B = m₀₁ − m₁₁, C = m₁₁), b = M 1 / 2. F is convex;
  F'(w) = 0 reads (A w + B) / √q(w) = t with t = (b₁ − b₀) / √φ, and since q = ((A w + B)² + D) / A with
  D = m₀₀ m₁₁ − m₀₁² ≥ 0, its root is A w + B = t √(D / (A − t²)) when t² < A; otherwise F is monotone and the
  minimum is an end point.
* IMTL-G (Liu et al., 2021, ICLR, Eq. 8): α₀ + α₁ = 1 and α·(M₀/||g₀|| − M₁/||g₁||) = 0, a 2 × 2 system solved by
  Cramer's rule.
* Nash-MTL (Navon et al., 2022, Eq. 3): α ⊙ Mα = 1 gives α₁ = r α₀ with r = ||g₀|| / ||g₁|| and
  α₀ = 1 / √(m₀₀ + m₀₁ r) (no solution when m₀₀ + m₀₁ r ≤ 0: opposite gradients).
* GradDrop (Chen et al., 2020, Eqs. 1–3): sign purity per coordinate, one uniform draw per coordinate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gram2", "mgda_weights2", "pcgrad_weights2", "cagrad_dual2", "cagrad_directions2", "imtl_weights2",
           "nash_weights2", "graddrop_directions2", "combine2", "safe_rows"]

#: float64's safe range for squared norms (see :func:`mtlnotes.weighting.scaling.rescale_exponent`): outside it the
#: classes rescale G by a power of two, and the closed forms here would lose precision.
_SAFE_LOW = np.finfo(np.float64).tiny / np.finfo(np.float64).eps
_SAFE_HIGH = np.finfo(np.float64).max / 4


def _check_pairs(grads: np.ndarray) -> np.ndarray:
    g = np.asarray(grads, dtype=np.float64)
    if g.ndim != 3 or g.shape[1] != 2:
        raise ValueError(f"grads must be (S, 2, d): S problems of two task gradients, got shape {g.shape}")
    return g


def _check_gram(gram: np.ndarray) -> np.ndarray:
    m = np.asarray(gram, dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] != (2, 2):
        raise ValueError(f"gram must be (S, 2, 2): S Gram matrices of two task gradients, got shape {m.shape}")
    return m


def gram2(grads: np.ndarray) -> np.ndarray:
    """M = G Gᵀ (S, 2, 2) for grads (S, 2, d), in float64."""
    g = _check_pairs(grads)
    return g @ g.transpose(0, 2, 1)


def safe_rows(gram: np.ndarray) -> np.ndarray:
    """(S,) bool: the largest squared norm is in float64's safe range, or both gradients are zero (where the
    classes use G as it is, so the closed forms reproduce them)."""
    m = _check_gram(gram)
    top = np.maximum(m[:, 0, 0], m[:, 1, 1])
    return ((top >= _SAFE_LOW) & (top <= _SAFE_HIGH)) | (top == 0)


def combine2(weights: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Σ_k α_k g_k (S, d) for weights (S, 2) and grads (S, 2, d)."""
    g = _check_pairs(grads)
    return weights[:, 0, None] * g[:, 0] + weights[:, 1, None] * g[:, 1]


def mgda_weights2(gram: np.ndarray) -> np.ndarray:
    """MGDA's weights (S, 2), scaled to sum to 2 as :class:`~mtlnotes.weighting.MGDA` does: 2 · argmin_{w∈Δ} wᵀMw."""
    m = _check_gram(gram)
    scale = np.maximum(m[:, 0, 0], m[:, 1, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        mh = m / np.where(scale > 0, scale, 1.0)[:, None, None]
        denom = mh[:, 0, 0] + mh[:, 1, 1] - 2 * mh[:, 0, 1]
        w0 = np.clip((mh[:, 1, 1] - mh[:, 0, 1]) / denom, 0.0, 1.0)
    w0 = np.where((denom <= 1e-300) | (scale <= 0), 0.5, w0)
    return 2.0 * np.stack([w0, 1.0 - w0], axis=1)


def pcgrad_weights2(gram: np.ndarray) -> np.ndarray:
    """PCGrad's update as weights (S, 2) on the original gradients: α_i = 1 − min(0, g₀·g₁) / ||g_j||² (j ≠ i;
    no projection onto a zero gradient)."""
    m = _check_gram(gram)
    conflict = np.minimum(m[:, 0, 1], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c0 = np.where(m[:, 1, 1] > 0, conflict / m[:, 1, 1], 0.0)  # g₀ loses (g₀·g₁/||g₁||²) g₁
        c1 = np.where(m[:, 0, 0] > 0, conflict / m[:, 0, 0], 0.0)
    return np.stack([1.0 - c1, 1.0 - c0], axis=1)


def cagrad_dual2(gram: np.ndarray, c: float) -> np.ndarray:
    """w* (S, 2) of CAGrad's dual problem, argmin_{w∈Δ} wᵀM1/2 + c ||g₀|| √(wᵀMw) (closed form, module docstring);
    NaN rows where the mean gradient is zero or c = 0 (no dual: the update is the mean gradient)."""
    m = _check_gram(gram)
    scale = np.maximum(m[:, 0, 0], m[:, 1, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        mh = m / np.where(scale > 0, scale, 1.0)[:, None, None]
        b0 = 0.5 * (mh[:, 0, 0] + mh[:, 0, 1])
        b1 = 0.5 * (mh[:, 0, 1] + mh[:, 1, 1])
        sqrt_phi = c * np.sqrt(np.maximum(0.5 * (b0 + b1), 0.0))
        a = mh[:, 0, 0] - 2 * mh[:, 0, 1] + mh[:, 1, 1]
        b = mh[:, 0, 1] - mh[:, 1, 1]
        d = np.maximum(mh[:, 0, 0] * mh[:, 1, 1] - mh[:, 0, 1] ** 2, 0.0)
        t = (b1 - b0) / sqrt_phi
        interior = a - t * t > 0
        y = np.sign(t) * np.sqrt(t * t * d / np.where(interior, a - t * t, 1.0))
        w_interior = np.clip((y - b) / a, 0.0, 1.0)
        w_end = np.where(b0 > b1, 0.0, np.where(b0 < b1, 1.0, 0.5))
        w0 = np.where(interior, w_interior, w_end)
    w0 = np.where(a <= 1e-300, 0.5, w0)  # g₀ = g₁: every w gives the same point
    w = np.stack([w0, 1.0 - w0], axis=1)
    no_dual = (sqrt_phi <= 0) | (scale <= 0) | ~np.isfinite(sqrt_phi)
    w[no_dual] = np.nan
    return w


def cagrad_directions2(grads: np.ndarray, c: float) -> np.ndarray:
    """CAGrad's update (S, d) as :meth:`mtlnotes.weighting.CAGrad.direction` composes it (``rescale`` off):
    g₀ + (c ||g₀|| / ||g_w*||) g_w*, with g₀ the mean gradient and g_w* = w*ᵀG."""
    g = _check_pairs(grads)
    mean = 0.5 * (g[:, 0] + g[:, 1])
    w = cagrad_dual2(gram2(g), c)
    gw = combine2(np.nan_to_num(w), g)
    gw_norm = np.linalg.norm(gw, axis=1)
    mean_norm = np.linalg.norm(mean, axis=1)
    use = ~np.isnan(w[:, 0]) & (gw_norm > 0) & (mean_norm > 0)
    factor = np.where(use, c * mean_norm / np.where(use, gw_norm, 1.0), 0.0)
    return mean + factor[:, None] * gw


def imtl_weights2(gram: np.ndarray) -> np.ndarray:
    """IMTL-G's α (S, 2) (α₀ + α₁ = 1, equal projections on the unit gradients); NaN rows where a gradient is zero
    or the system is singular (the class raises, or falls back to least squares, there)."""
    m = _check_gram(gram)
    n0, n1 = np.sqrt(np.maximum(m[:, 0, 0], 0.0)), np.sqrt(np.maximum(m[:, 1, 1], 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        a10 = m[:, 0, 0] / n0 - m[:, 1, 0] / n1
        a11 = m[:, 0, 1] / n0 - m[:, 1, 1] / n1
        det = a11 - a10
        alpha = np.stack([a11 / det, -a10 / det], axis=1)
    bad = (n0 == 0) | (n1 == 0) | (det == 0) | ~np.isfinite(alpha).all(axis=1)
    alpha[bad] = np.nan
    return alpha


def nash_weights2(gram: np.ndarray, stationary_tol: float = 1e-10) -> np.ndarray:
    """Nash-MTL's α (S, 2) > 0 with α ⊙ Mα = 1 (as :func:`mtlnotes.weighting.nash.solve_nash_gram` for K = 2);
    NaN rows where no bargaining solution exists (a zero gradient, or m₀₀ + m₀₁ r ≤ ``stationary_tol`` · m₀₀)."""
    m = _check_gram(gram)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(m[:, 0, 0] / m[:, 1, 1])
        denom = m[:, 0, 0] + m[:, 0, 1] * r
        a0 = 1.0 / np.sqrt(denom)
        alpha = np.stack([a0, r * a0], axis=1)
    bad = (m[:, 0, 0] <= 0) | (m[:, 1, 1] <= 0) | ~(denom > stationary_tol * m[:, 0, 0])
    alpha[bad] = np.nan
    return alpha


def graddrop_directions2(grads: np.ndarray, uniform: np.ndarray, leak: float = 0.0) -> np.ndarray:
    """GradDrop's update (S, d) for grads (S, 2, d) and uniform draws ``uniform`` (d,) or (S, d): per coordinate
    the positive parts are kept where the sign purity P > U and the negative parts where P < U."""
    g = _check_pairs(grads)
    total, abs_total = g.sum(axis=1), np.abs(g).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 0.5 * (1.0 + np.where(abs_total > 0, total / np.maximum(abs_total, 1e-30), 0.0))
    u = np.broadcast_to(np.asarray(uniform, dtype=np.float64), p.shape)
    keep = ((p > u)[:, None] & (g > 0)) | ((p < u)[:, None] & (g < 0))
    mask = keep.astype(np.float64)
    if leak:
        mask = leak + (1.0 - leak) * mask
    return (mask * g).sum(axis=1)
