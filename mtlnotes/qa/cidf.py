"""Contextualized Iterative Dual Fusion network, CIDF (He et al., ICANN 2021, §3.4, Eqs. 2–7).

Inputs are given per-diagram features: object features ``v_f`` (B, N_o, h) with boxes (B, N_o, 4), text
features ``u_f`` (B, N_t, h) with boxes (B, N_t, 4), and a textual context feature ``c`` (B, h) from the shared
encoder T_c (one per candidate answer). Masks (B, N_o) / (B, N_t), True where an object/text exists, allow
padding to the paper's maxima (20 objects, 15 texts, §4.2).

Two places where the printed equations do not type-check, and what is implemented instead:

* Eq. 4 writes ``S_u = (â_u)^T V`` with ``â_u ∈ R^{N_t × N_o}``; ``(â_u)^T V`` is undefined
  (N_o × N_t times N_o × h). The stated result ``Z_u ∈ R^{N_t × h}`` is ``â_u V`` with the softmax taken over
  objects (each text attends over the objects), which is what :class:`DualFusion` computes; Eq. 5 likewise.
* Eq. 6's gate is ``tanh`` as printed (not a sigmoid), so ``g`` lies in (−1, 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SpatialEmbedding", "DualFusion", "GatedOutput", "CIDF"]

_NEG = -1e9


class SpatialEmbedding(nn.Module):
    """``v^p = LayerNorm(W_p b)`` for bounding boxes ``b`` (…, 4) → (…, h) (Eq. 2)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(4, hidden, bias=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        if boxes.shape[-1] != 4:
            raise ValueError(f"boxes must end in 4 coordinates, got shape {tuple(boxes.shape)}")
        return self.norm(self.proj(boxes))


def _masked_softmax(scores: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, :], _NEG)
    return torch.softmax(scores, dim=-1)


def _masked_max(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Max over the set dimension 1 of (B, N, h), ignoring padded rows (an all-padded set gives 0)."""
    if mask is None:
        return x.max(dim=1).values
    filled = x.masked_fill(~mask[:, :, None], _NEG).max(dim=1).values
    return torch.where(mask.any(dim=1, keepdim=True), filled, torch.zeros_like(filled))


class DualFusion(nn.Module):
    """One direction of the dual fusion (Eq. 4): queries ``Q`` (B, N_q, h) attend over keys ``K`` (B, N_k, h).

    ``a = Q W K^T`` (B, N_q, N_k); ``â = softmax(a / sqrt(h))`` over keys; ``S = â K``; ``Z = ReLU(S W_o)``
    (B, N_q, h). With Q = U, K = V this is Z_u (Eq. 4); with Q = V, K = U it is Z_v (Eq. 5).
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.bilinear = nn.Linear(hidden, hidden, bias=False)  # W_u (or W_v)
        self.out = nn.Linear(hidden, hidden, bias=False)  # W_ou (or W_ov)
        self.scale = 1.0 / math.sqrt(hidden)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.bilinear(queries) @ keys.transpose(1, 2)  # a = Q W K^T
        attn = _masked_softmax(scores * self.scale, key_mask)
        return torch.relu(self.out(attn @ keys))


class GatedOutput(nn.Module):
    """Gated output of a CDF layer (Eq. 6), guided by the textual context ``c`` (B, h).

    ``z̄_u = MaxPool(Z_u)``, ``z̄_v = MaxPool(Z_v)``, ``g = tanh(z̄_u W_gu + z̄_v W_gv + c W_gc)``,
    ``O = g * z̄_u + (1 − g) * z̄_v`` (B, h).
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.w_gu = nn.Linear(hidden, hidden, bias=False)
        self.w_gv = nn.Linear(hidden, hidden, bias=False)
        self.w_gc = nn.Linear(hidden, hidden, bias=False)

    def forward(self, z_u: torch.Tensor, z_v: torch.Tensor, c: torch.Tensor,
                text_mask: torch.Tensor | None = None, obj_mask: torch.Tensor | None = None) -> torch.Tensor:
        zu, zv = _masked_max(z_u, text_mask), _masked_max(z_v, obj_mask)
        g = torch.tanh(self.w_gu(zu) + self.w_gv(zv) + self.w_gc(c))
        return g * zu + (1 - g) * zv


class CIDF(nn.Module):
    """N Contextualized Dual Fusion layers (§3.4). Returns ``O^(N)`` (B, h); with ``n_layers = 0`` it returns
    ones, so that the head's Hadamard product ``O ⊙ C_k`` reduces to ``C_k`` (the paper's N = 0 row, Table 3).

    The object and text representations are ``v = (v^f + v^p) / 2`` and ``u = (u^f + u^p) / 2`` (Eqs. 2–3);
    the next layer's inputs are ``U^(t+1) = Z_u W_uu``, ``V^(t+1) = Z_v W_vv`` (Eq. 7). The fusion does not
    depend on the context, only the gate does, so :meth:`forward` accepts several contexts per diagram:
    ``c`` (B, K, h) gives (B, K, h).
    """

    def __init__(self, hidden: int, n_layers: int = 2) -> None:
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.hidden, self.n_layers = hidden, n_layers
        self.obj_spatial = SpatialEmbedding(hidden)
        self.text_spatial = SpatialEmbedding(hidden)
        self.obj_to_text = nn.ModuleList(DualFusion(hidden) for _ in range(n_layers))  # Eq. 4
        self.text_to_obj = nn.ModuleList(DualFusion(hidden) for _ in range(n_layers))  # Eq. 5
        # Eq. 6 for the last layer: the O^(t) of earlier layers do not reach the answer score (§3.4)
        self.gate = GatedOutput(hidden) if n_layers else None
        self.w_uu = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(max(n_layers - 1, 0)))
        self.w_vv = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(max(n_layers - 1, 0)))

    def forward(self, v_f: torch.Tensor, obj_boxes: torch.Tensor, u_f: torch.Tensor, text_boxes: torch.Tensor,
                c: torch.Tensor, obj_mask: torch.Tensor | None = None,
                text_mask: torch.Tensor | None = None) -> torch.Tensor:
        if v_f.shape[-1] != self.hidden or u_f.shape[-1] != self.hidden or c.shape[-1] != self.hidden:
            raise ValueError(f"features must have {self.hidden} channels, got objects {tuple(v_f.shape)}, "
                             f"texts {tuple(u_f.shape)}, context {tuple(c.shape)}")
        if v_f.shape[:2] != obj_boxes.shape[:2] or u_f.shape[:2] != text_boxes.shape[:2]:
            raise ValueError("features and boxes must agree in (batch, count)")
        several = c.dim() == 3
        if self.n_layers == 0:
            return torch.ones_like(c)
        v = (v_f + self.obj_spatial(obj_boxes)) / 2
        u = (u_f + self.text_spatial(text_boxes)) / 2
        for t in range(self.n_layers):
            z_u = self.obj_to_text[t](u, v, obj_mask)  # (B, N_t, h), Eq. 4
            z_v = self.text_to_obj[t](v, u, text_mask)  # (B, N_o, h), Eq. 5
            if t + 1 < self.n_layers:
                u, v = self.w_uu[t](z_u), self.w_vv[t](z_v)  # Eq. 7
        gate = self.gate  # only O^(N) is used (§3.4, last paragraph)
        if not several:
            return gate(z_u, z_v, c, text_mask, obj_mask)
        b, k, h = c.shape
        rep = lambda x: x.repeat_interleave(k, dim=0)  # noqa: E731
        out = gate(rep(z_u), rep(z_v), c.reshape(b * k, h),
                   rep(text_mask) if text_mask is not None else None,
                   rep(obj_mask) if obj_mask is not None else None)
        return out.reshape(b, k, h)
