"""CAGrad: conflict-averse gradient descent (Liu et al., 2021, NeurIPS, Eq. 3 and Algorithm 1).

The update maximises the worst-case task improvement min_i g_iᵀd within a ball around the average gradient
g0 = (1/K) Σ g_i: ||d − g0|| ≤ c ||g0||. Its dual is the K-dimensional problem
w* = argmin_{w∈Δ} g_wᵀ g0 + √φ ||g_w||, g_w = Σ w_i g_i, φ = c² ||g0||², and the update is
d = g0 + (√φ / ||g_w*||) g_w*. With c = 0 the update is the mean gradient. The official code further divides
d by 1 + c² (``rescale=True`` here); the paper's Algorithm 1 does not.

In terms of the Gram matrix M = G Gᵀ the update is d = αᵀG with α = 1/K + (c ||g0|| / ||g_w*||) w*, where
||g0||² = 1ᵀM1/K² and ||g_w*||² = w*ᵀMw*: :meth:`CAGrad.weights` returns this α.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize

from mtlnotes.weighting.gram import GramWeighting
from mtlnotes.weighting.threads import one_thread

__all__ = ["CAGrad", "cagrad_dual_weights"]


def cagrad_dual_weights(gram: np.ndarray, c: float) -> np.ndarray:
    """w* (K,) of CAGrad's dual problem for Gram matrix M = G Gᵀ (K, K): minimise
    wᵀ M 1/K + c ||g0|| √(wᵀ M w) over the simplex (SLSQP from the uniform start, on one thread)."""
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

    with one_thread():
        res = minimize(fun, np.full(k, 1.0 / k), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                     "jac": lambda w: np.ones_like(w)},),
                       options={"ftol": 1e-14, "maxiter": 500})
    w = np.clip(res.x, 0.0, None)
    return w / w.sum()


class CAGrad(GramWeighting):
    """Conflict-averse gradient descent with radius ``c`` (paper: 0.4 on NYUv2, 0.5 on Multi-Fashion+MNIST).

    The last dual weights w* are in ``self.dual``. The task-specific parameters get weight 1 (``weights`` None in
    the :class:`~mtlnotes.weighting.base.Aggregation`), as in the official code.

    >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> CAGrad(c=0.0).aggregate(g).direction   # c = 0: the mean gradient
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """

    name = "CAGrad"

    def __init__(self, c: float = 0.4, rescale: bool = False) -> None:
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        self.c = float(c)
        self.rescale = rescale
        self.dual: torch.Tensor | None = None

    def weights(self, gram: torch.Tensor) -> torch.Tensor:
        """α (K,) with d = αᵀG: 1/K + (c ||g0|| / ||g_w*||) w* (1/K when c = 0 or g0 = 0), divided by 1 + c² with
        ``rescale``."""
        k = gram.shape[0]
        alpha = torch.full((k,), 1.0 / k, dtype=torch.float64)
        g0_sq = float(gram.mean())  # ||g0||² = 1ᵀM1/K²
        self.dual = None
        if self.c > 0 and g0_sq > 0:
            self.dual = torch.from_numpy(cagrad_dual_weights(gram.cpu().numpy(), self.c))
            gw_sq = float(self.dual @ gram.cpu() @ self.dual)
            if gw_sq > 0:
                alpha = alpha + (self.c * np.sqrt(g0_sq) / np.sqrt(gw_sq)) * self.dual
        return alpha / (1.0 + self.c ** 2) if self.rescale else alpha

    def direction(self, grads: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """g0 + (c ||g0|| / ||g_w*||) g_w*, composed from the vectors in ``grads``'s dtype (equal to αᵀG up to
        rounding; the chapter's stored results were computed in this form)."""
        g0 = grads.mean(dim=0)
        if self.dual is None or float(g0.norm()) == 0.0:
            d = g0
        else:
            gw = self.dual.to(grads.dtype).to(grads.device) @ grads
            gw_norm = gw.norm()
            d = g0 if float(gw_norm) == 0.0 else g0 + (self.c * g0.norm() / gw_norm) * gw
        if self.rescale:
            d = d / (1.0 + self.c ** 2)
        return d

    def task_weights(self, alpha: torch.Tensor, grads: torch.Tensor) -> None:
        return None
