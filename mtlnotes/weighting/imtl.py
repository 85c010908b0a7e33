"""IMTL-G: impartial MTL, gradient balancing (Liu et al., 2021, ICLR, "Towards impartial multi-task learning",
§3.2, Eq. 8 and Algorithm 1).

Find weights α (Σ α = 1) such that the aggregated gradient g = Σ_k α_k g_k has *equal projections* on every
task's unit gradient u_k = g_k / ||g_k||: g·u_1 = g·u_k for k = 2..K. That is K−1 linear equations plus
Σ α = 1, a K×K linear system (the paper writes its solution in closed form as
α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹ with D, U the differences g_1 − g_k, u_1 − u_k).

Every entry of the system is a Gram entry, (u_1 − u_j)·g_i = M_1i / ||g_1|| − M_ji / ||g_j||, but the system is
built from G itself (u_k, then (u_1 − u_j)·g_i), as the chapters' stored results were computed: the Gram form
rounds differently, and a float64 toy trajectory of chapter 04 moves by 3e-2 after 600 steps.
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import Aggregation, GradientAggregator, check_grads
from mtlnotes.weighting.scaling import rescale_exponent, scale_by_power_of_two
from mtlnotes.weighting.threads import one_thread

__all__ = ["IMTLG", "imtl_weights"]


def imtl_weights(grads: torch.Tensor) -> torch.Tensor:
    """α (K,) of IMTL-G for grads (K, d) (solved in float64; G is rescaled by a power of two when its squared
    norms overflow or underflow float64). Zero gradients are an error (no direction u_k); a singular system (e.g.
    collinear gradients) is solved in the least-squares sense.

    >>> imtl_weights(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    tensor([0.3333, 0.6667], dtype=torch.float64)
    """
    grads = check_grads(grads).detach().to(torch.float64)
    k = grads.shape[0]
    norms = grads.norm(dim=1)
    e = rescale_exponent(grads, float(norms.max()) ** 2)  # α is scale-invariant
    if e:
        grads = scale_by_power_of_two(grads, e)
        norms = grads.norm(dim=1)
    if (norms == 0).any():
        raise ValueError(f"IMTL-G needs non-zero gradients; task(s) {torch.nonzero(norms == 0).flatten().tolist()} "
                         "have a zero gradient")
    if k == 1:
        return torch.ones(1, dtype=torch.float64)
    u = grads / norms[:, None]
    a = torch.empty(k, k, dtype=torch.float64)
    a[0] = 1.0
    a[1:] = ((u[0:1] - u[1:]) @ grads.T)  # row j: Σ_i α_i g_i·(u_1 − u_{j+1}) = 0
    b = torch.zeros(k, dtype=torch.float64)
    b[0] = 1.0
    with one_thread(blas=False):  # a K×K solve
        try:
            return torch.linalg.solve(a, b)
        except RuntimeError:  # singular: least-squares solution
            return torch.linalg.lstsq(a, b[:, None]).solution[:, 0]


class IMTLG(GradientAggregator):
    """IMTL-G (Liu et al., 2021, ICLR): the update Σ α_k g_k with equal projections on every unit gradient."""

    name = "IMTL-G"

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        alpha = imtl_weights(grads).to(grads.dtype).to(grads.device)
        return Aggregation(direction=alpha @ grads, weights=alpha)
