"""IMTL-G: impartial MTL, gradient balancing (Liu et al., 2021, ICLR, "Towards impartial multi-task learning",
§3.2, Eq. 8 and Algorithm 1).

Find weights α (Σ α = 1) such that the aggregated gradient g = Σ_k α_k g_k has *equal projections* on every
task's unit gradient u_k = g_k / ||g_k||: g·u_1 = g·u_k for k = 2..K. That is K−1 linear equations plus
Σ α = 1, a K×K linear system (the paper writes its solution in closed form as
α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹ with D, U the differences g_1 − g_k, u_1 − u_k).

Every entry of the system is a Gram entry, (u_1 − u_j)·g_i = M_1i / ||g_1|| − M_ji / ||g_j||, so IMTL-G is one
of the Gram-based methods: :class:`IMTLG` builds the system from M = G Gᵀ (:class:`~mtlnotes.weighting.gram.
GramWeighting` forms M once, rescaled by a power of two when G's squared norms would overflow or underflow).
"""

from __future__ import annotations

import torch

from mtlnotes.weighting.base import check_grads
from mtlnotes.weighting.gram import GramWeighting, scaled_gram
from mtlnotes.weighting.threads import one_thread

__all__ = ["IMTLG", "imtl_weights", "imtl_weights_from_gram"]


def imtl_weights(grads: torch.Tensor) -> torch.Tensor:
    """α (K,) of IMTL-G for grads (K, d): :func:`imtl_weights_from_gram` of G's Gram matrix (float64; G is rescaled
    by a power of two first when its squared norms would overflow or underflow).

    >>> imtl_weights(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    tensor([0.3333, 0.6667], dtype=torch.float64)
    """
    _, gram, _ = scaled_gram(check_grads(grads).detach())
    return imtl_weights_from_gram(gram)


def imtl_weights_from_gram(gram: torch.Tensor) -> torch.Tensor:
    """α (K,) of IMTL-G from the Gram matrix M (K, K) (float64): Σ α = 1 and, for j = 2..K,
    Σ_i α_i (M_1i / ||g_1|| − M_ji / ||g_j||) = 0 with ||g_k|| = √M_kk. A zero gradient is an error (no direction
    u_k); a singular system (e.g. collinear gradients) is solved in the least-squares sense."""
    gram = gram.to(torch.float64)
    k = gram.shape[0]
    norms = torch.diagonal(gram).clamp_min(0).sqrt()
    if (norms == 0).any():
        raise ValueError(f"IMTL-G needs non-zero gradients; task(s) {torch.nonzero(norms == 0).flatten().tolist()} "
                         "have a zero gradient")
    if k == 1:
        return torch.ones(1, dtype=torch.float64)
    a = torch.empty(k, k, dtype=torch.float64)
    a[0] = 1.0
    a[1:] = gram[0:1] / norms[0] - gram[1:] / norms[1:, None]  # row j: Σ_i α_i g_i·(u_1 − u_{j+1}) = 0
    b = torch.zeros(k, dtype=torch.float64)
    b[0] = 1.0
    with one_thread(blas=False):  # a K×K solve
        try:
            return torch.linalg.solve(a, b)
        except RuntimeError:  # singular: least-squares solution
            return torch.linalg.lstsq(a, b[:, None]).solution[:, 0]


class IMTLG(GramWeighting):
    """IMTL-G (Liu et al., 2021, ICLR): the update Σ α_k g_k with equal projections on every unit gradient.

    >>> agg = IMTLG().aggregate(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    >>> agg.direction, agg.weights
    (tensor([0.6667, 0.6667]), tensor([0.3333, 0.6667]))
    """

    name = "IMTL-G"

    def weights(self, gram: torch.Tensor) -> torch.Tensor:
        """α (K,) of :func:`imtl_weights_from_gram` (scale-invariant: ``weights_degree`` 0)."""
        return imtl_weights_from_gram(gram)
