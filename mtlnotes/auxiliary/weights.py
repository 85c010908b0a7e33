"""Sample-level auxiliary weights of the weight-aware methods (RL-AUX §4 "Weight Selection", Eq. 8).

An unscaled weight w_u in [0, 1] becomes the loss weight ``2^(10 w_u - 5)`` in [2^-5, 2^5] (Eq. 8). WA-RL
picks w_u from 21 evenly spaced bins {0, 0.05, ..., 1}; WA-MAXL's label network outputs w_u with a sigmoid.
"""

from __future__ import annotations

import torch

__all__ = ["N_WEIGHT_BINS", "scale_weight", "weight_from_bin"]

N_WEIGHT_BINS = 21


def scale_weight(w: torch.Tensor | float) -> torch.Tensor:
    """Eq. 8: ``2^(10 w - 5)`` for unscaled weights w in [0, 1] (any shape)."""
    w = torch.as_tensor(w, dtype=torch.get_default_dtype()) if not isinstance(w, torch.Tensor) else w
    if w.numel():
        lo, hi = float(w.detach().min()), float(w.detach().max())
        if lo < 0 or hi > 1:
            raise ValueError(f"unscaled weights must lie in [0, 1], got range [{lo}, {hi}]")
    return torch.exp2(10 * w - 5)


def weight_from_bin(index: torch.Tensor | int, n_bins: int = N_WEIGHT_BINS) -> torch.Tensor:
    """The WA-RL action's weight: bin ``index`` in [0, n_bins) is w_u = index/(n_bins-1), scaled by Eq. 8."""
    index = torch.as_tensor(index)
    if index.dtype.is_floating_point:
        raise ValueError(f"weight bins are integers, got dtype {index.dtype}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_bins):
        raise ValueError(f"weight bin out of range for {n_bins} bins: got range [{int(index.min())}, {int(index.max())}]")
    return scale_weight(index.to(torch.get_default_dtype()) / (n_bins - 1))
