"""GLUNet's multi-task loss L_total = λ·L_seg + (1−λ)·L_edge (Wang & Quan, ICANN 2021, §3.3, Eq. 6)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mtlnotes.segmentation.lovasz import lovasz_softmax

__all__ = ["glunet_loss"]


def glunet_loss(seg_logits: torch.Tensor, mask: torch.Tensor, edge_logits: torch.Tensor | None = None,
                edge: torch.Tensor | None = None, lam: float = 0.7) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 6 with Lovász-Softmax (Eqs. 4–5) on both heads; returns (loss, {"seg", "edge"} parts).

    ``seg_logits``/``edge_logits``: (B, 2, H, W); ``mask``/``edge``: (B, H, W) 0/1. Without an edge head
    (``edge_logits`` None: the models without LEDM) the loss is L_seg alone.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"λ must lie in [0, 1], got {lam}")
    l_seg = lovasz_softmax(F.softmax(seg_logits, dim=1), mask.long())
    if edge_logits is None:
        return l_seg, {"seg": float(l_seg.detach()), "edge": float("nan")}
    if edge is None:
        raise ValueError("edge targets are needed when the model has an edge head")
    l_edge = lovasz_softmax(F.softmax(edge_logits, dim=1), edge.long())
    return lam * l_seg + (1.0 - lam) * l_edge, {"seg": float(l_seg.detach()), "edge": float(l_edge.detach())}
