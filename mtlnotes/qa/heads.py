"""The three QA networks of MHTQA (He et al., ICANN 2021, §3.3–3.4) on top of a shared context encoder T_c.

Each head takes textual context features from T_c and returns scores:

* :class:`TrueFalseHead` — Text T/F: two fully connected layers on C (B, h) → logits (B, 2) (§3.3).
* :class:`ComparisonLayer` and :class:`MultipleChoiceHead` — Text MC: the candidates' features C_1..C_K
  (B, K, h) are compared by cross attention (Eq. 1), then two FC layers score each candidate → (B, K).
* :class:`DiagramHead` — Diagram: CIDF (:mod:`mtlnotes.qa.cidf`) gives O^(N) per candidate; the score is two FC
  layers on ``O^(N) ⊙ C_k`` (§3.4, last paragraph) → (B, K).

Candidate masks (B, K), True for real candidates, let questions with fewer choices share a batch (TQA has
two to seven choices); padded candidates score −inf.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtlnotes.qa.cidf import CIDF

__all__ = ["two_fc", "TrueFalseHead", "ComparisonLayer", "MultipleChoiceHead", "DiagramHead"]


def two_fc(hidden: int, out: int) -> nn.Sequential:
    """The papers' "two fully connected layers": Linear(h, h) → ReLU → Linear(h, out)."""
    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))


def _mask_scores(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return scores
    if mask.shape != scores.shape:
        raise ValueError(f"candidate mask {tuple(mask.shape)} does not match scores {tuple(scores.shape)}")
    return scores.masked_fill(~mask, float("-inf"))


class TrueFalseHead(nn.Module):
    """Text T/F (§3.3): C (B, h) → logits over (false, true) (B, 2)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc = two_fc(hidden, 2)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        if c.dim() != 2:
            raise ValueError(f"T/F head expects context features (B, h), got {tuple(c.shape)}")
        return self.fc(c)


class ComparisonLayer(nn.Module):
    """Cross attention between candidate answers (Eq. 1): C (B, K, h) → comparison features C̃ (B, K, h).

    ``C̄_j = tanh(W_c C_j)``, ``Q_i = W_cq C̄_i``, ``G_ij = softmax_{j≠i}(Q_i C̄_j^T / sqrt(h))``,
    ``Ĉ_i = [G_ij C̄_j]_{j≠i}`` (concatenated), ``C̃_i = ReLU(W_cc C_i + W_oc Ĉ_i)``.

    The concatenation makes ``W_oc`` (h × (K_max − 1) h) depend on the number of choices, so the layer is built
    for ``max_choices`` and pads missing candidates with zeros. Eq. 1 prints ``G_ij C̄_i``; as ``C̄_i`` does not
    depend on j that would only rescale one vector K − 1 times, so the compared candidate ``C̄_j`` is used.
    """

    def __init__(self, hidden: int, max_choices: int) -> None:
        super().__init__()
        if max_choices < 2:
            raise ValueError(f"a multiple-choice comparison needs max_choices >= 2, got {max_choices}")
        self.hidden, self.max_choices = hidden, max_choices
        self.w_c = nn.Linear(hidden, hidden, bias=False)
        self.w_cq = nn.Linear(hidden, hidden, bias=False)
        self.w_cc = nn.Linear(hidden, hidden)
        self.w_oc = nn.Linear((max_choices - 1) * hidden, hidden, bias=False)

    def forward(self, c: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if c.dim() != 3 or c.shape[-1] != self.hidden:
            raise ValueError(f"comparison expects (B, K, {self.hidden}), got {tuple(c.shape)}")
        b, k, h = c.shape
        if k > self.max_choices:
            raise ValueError(f"{k} choices but the layer was built for at most {self.max_choices}")
        if mask is None:
            mask = torch.ones(b, k, dtype=torch.bool, device=c.device)
        if k < self.max_choices:  # pad to K_max
            c = torch.cat([c, c.new_zeros(b, self.max_choices - k, h)], dim=1)
            mask = torch.cat([mask, mask.new_zeros(b, self.max_choices - k)], dim=1)
        km = self.max_choices
        c_bar = torch.tanh(self.w_c(c)) * mask[..., None]  # (B, K, h)
        scores = self.w_cq(c_bar) @ c_bar.transpose(1, 2) / math.sqrt(h)  # (B, K, K)
        eye = torch.eye(km, dtype=torch.bool, device=c.device)
        allowed = mask[:, None, :] & ~eye[None]  # j ≠ i and j a real candidate
        g = torch.softmax(scores.masked_fill(~allowed, -1e9), dim=-1) * allowed  # G (B, K, K)
        weighted = g[..., None] * c_bar[:, None, :, :]  # (B, K_i, K_j, h): G_ij C̄_j
        others = weighted[:, ~eye].reshape(b, km, km - 1, h)  # drop j = i, keep the order of j
        c_hat = others.reshape(b, km, (km - 1) * h)
        out = torch.relu(self.w_cc(c) + self.w_oc(c_hat))
        return out[:, :k]


class MultipleChoiceHead(nn.Module):
    """Text MC (§3.3): comparison layer (Eq. 1) then two FC layers per candidate; C (B, K, h) → scores (B, K)."""

    def __init__(self, hidden: int, max_choices: int) -> None:
        super().__init__()
        self.compare = ComparisonLayer(hidden, max_choices)
        self.fc = two_fc(hidden, 1)

    def forward(self, c: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _mask_scores(self.fc(self.compare(c, mask)).squeeze(-1), mask)


class DiagramHead(nn.Module):
    """Diagram (§3.4): ``score_k = FC(FC(O^(N)_k ⊙ C_k))`` with ``O^(N)_k`` from :class:`~mtlnotes.qa.cidf.CIDF`.

    Inputs: contexts C (B, K, h), object/text features and boxes as for CIDF; output scores (B, K).
    """

    def __init__(self, hidden: int, n_layers: int = 2) -> None:
        super().__init__()
        self.cidf = CIDF(hidden, n_layers)
        self.fc = two_fc(hidden, 1)

    def forward(self, c: torch.Tensor, v_f: torch.Tensor, obj_boxes: torch.Tensor, u_f: torch.Tensor,
                text_boxes: torch.Tensor, obj_mask: torch.Tensor | None = None,
                text_mask: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        if c.dim() != 3:
            raise ValueError(f"diagram head expects contexts (B, K, h), got {tuple(c.shape)}")
        o = self.cidf(v_f, obj_boxes, u_f, text_boxes, c, obj_mask, text_mask)  # (B, K, h)
        return _mask_scores(self.fc(o * c).squeeze(-1), mask)
