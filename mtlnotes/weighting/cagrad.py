"""CAGrad: conflict-averse gradient descent (Liu et al., 2021, NeurIPS, Eq. 3 and Algorithm 1).

The update maximises the worst-case task improvement min_i g_iᵀd within a ball around the average gradient
g0 = (1/K) Σ g_i: ||d − g0|| ≤ c ||g0||. Its dual is the K-dimensional problem
w* = argmin_{w∈Δ} g_wᵀ g0 + √φ ||g_w||, g_w = Σ w_i g_i, φ = c² ||g0||², and the update is
d = g0 + (√φ / ||g_w*||) g_w*. With c = 0 the update is the mean gradient. The official code further divides
d by 1 + c² (``rescale=True`` here); the paper's Algorithm 1 does not.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from mtlnotes.gradients import gram_matrix
from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads

__all__ = ["CAGrad", "cagrad_dual_weights"]


def cagrad_dual_weights(gram: np.ndarray, c: float) -> np.ndarray:
    """w* (K,) of CAGrad's dual problem for Gram matrix M = G Gᵀ (K, K): minimise
    wᵀ M 1/K + c ||g0|| √(wᵀ M w) over the simplex (SLSQP from the uniform start)."""
    m = np.asarray(gram, dtype=np.float64)
    k = m.shape[0]
    scale = float(np.max(np.diag(m))) or 1.0
    m = m / scale
    b = m.mean(axis=1)  # M 1/K = G g0
    sqrt_phi = c * np.sqrt(max(float(b.mean()), 0.0))  # ||g0||² = 1ᵀM1/K²

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        mw = m @ w
        norm = np.sqrt(max(w @ mw, 1e-20))
        return float(w @ b + sqrt_phi * norm), b + sqrt_phi * mw / norm

    res = minimize(fun, np.full(k, 1.0 / k), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},),
                   options={"ftol": 1e-14, "maxiter": 500})
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


class CAGrad(GradientAggregator):
    """Conflict-averse gradient descent with radius ``c`` (paper: 0.4 on NYUv2, 0.5 on Multi-Fashion+MNIST)."""

    name = "CAGrad"

    def __init__(self, c: float = 0.4, rescale: bool = False) -> None:
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        self.c = float(c)
        self.rescale = rescale

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        grads = check_grads(grads)
        g0 = grads.mean(dim=0)
        if self.c == 0 or float(g0.norm()) == 0.0:
            return Aggregation(direction=g0)
        w = torch.as_tensor(cagrad_dual_weights(gram_matrix(grads).cpu().numpy(), self.c), dtype=grads.dtype,
                            device=grads.device)
        gw = w @ grads
        gw_norm = gw.norm()
        d = g0 if float(gw_norm) == 0.0 else g0 + (self.c * g0.norm() / gw_norm) * gw
        if self.rescale:
            d = d / (1.0 + self.c ** 2)
        return Aggregation(direction=d)
