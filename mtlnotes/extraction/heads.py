"""Answer extraction heads (Qian, Li and Tang, ICANN 2021, §3.2).

* :class:`TagHead` — tag-based strategy: ``H_tag = BiLSTM_tag(X_tag)`` (Eq. 12/15) and a binary token
  classifier ``L_tag = Linear(W_tag H_tag)`` (Eq. 8), loss ``BCE(L_tag, Y_tag)`` (Eq. 10).
* :class:`BoundaryHead` — boundary-based strategy: ``H_bdy = BiLSTM_bdy(X_bdy)`` (Eq. 13/17), start and end
  classifiers (Eq. 1–2), loss ``L_start + L_end`` (Eq. 5–7).
* :class:`TokenTagger` — sequence labelling over joint BIO tags, with a linear-chain CRF (``pytorch-crf``;
  the LSTM-CRF baseline, §4.2) or a per-token softmax (the BERT-Tagger baseline).

"BCE" on a two-way ``Linear`` output (the paper's ``R^{n×2}``) is the two-class cross-entropy used here. Losses are
means over the passage characters of the batch (``mask``); query, special and padding tokens carry no loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.extraction.encoders import run_lstm

__all__ = ["SequenceLayer", "TagHead", "BoundaryHead", "TokenTagger", "masked_cross_entropy"]


class SequenceLayer(nn.Module):
    """The heads' sequence model: a BiLSTM (the paper, §3.2; ``hidden`` per direction, output ``2·hidden``) or,
    where CPU time is short, a width-3 convolution with GELU (output ``2·hidden``; ours, not the paper's)."""

    def __init__(self, dim_in: int, hidden: int, kind: str = "bilstm") -> None:
        super().__init__()
        if kind not in ("bilstm", "conv"):
            raise ValueError(f"head layer must be 'bilstm' or 'conv', got {kind!r}")
        self.kind = kind
        if kind == "bilstm":
            self.lstm = nn.LSTM(dim_in, hidden, batch_first=True, bidirectional=True)
        else:
            self.conv = nn.Conv1d(dim_in, 2 * hidden, 3, padding=1)

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        if self.kind == "bilstm":
            return run_lstm(self.lstm, x, attention)
        x = x * attention[..., None]
        return F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2) * attention[..., None]


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``mask`` is True: logits (B, L, C), target/mask (B, L)."""
    if not mask.any():
        raise ValueError("the mask selects no position")
    return F.cross_entropy(logits[mask], target[mask])


class TagHead(nn.Module):
    """BiLSTM_tag (``hidden`` per direction) + the answer tagger ``W_tag`` (Eq. 8, 12)."""

    def __init__(self, dim_in: int, hidden: int, dropout: float = 0.1, layer: str = "bilstm") -> None:
        super().__init__()
        self.lstm = SequenceLayer(dim_in, hidden, layer)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, 2)

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, dim_in) -> (H_tag (B, L, 2·hidden), L_tag logits (B, L, 2))."""
        h = self.lstm(x, attention)
        return h, self.out(self.drop(h))

    @staticmethod
    def loss(logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Eq. 10."""
        return masked_cross_entropy(logits, tags, mask)


class BoundaryHead(nn.Module):
    """BiLSTM_bdy (``hidden`` per direction) + start and end classifiers (Eq. 1–2, 13)."""

    def __init__(self, dim_in: int, hidden: int, dropout: float = 0.1, layer: str = "bilstm") -> None:
        super().__init__()
        self.lstm = SequenceLayer(dim_in, hidden, layer)
        self.drop = nn.Dropout(dropout)
        self.start = nn.Linear(2 * hidden, 2)
        self.end = nn.Linear(2 * hidden, 2)

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, dim_in) -> (L_start, L_end), each (B, L, 2)."""
        h = self.drop(self.lstm(x, attention))
        return self.start(h), self.end(h)

    @staticmethod
    def loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        """Eq. 7: ``L_bdy = L_start + L_end``."""
        return masked_cross_entropy(start_logits, start, mask) + masked_cross_entropy(end_logits, end, mask)


class TokenTagger(nn.Module):
    """Emissions ``Linear(dim_in → n_tags)`` with a CRF (``crf=True``) or an independent softmax per token."""

    def __init__(self, dim_in: int, n_tags: int, crf: bool = True) -> None:
        super().__init__()
        self.emit = nn.Linear(dim_in, n_tags)
        self.crf = None
        if crf:
            from torchcrf import CRF

            self.crf = CRF(n_tags, batch_first=True)

    @staticmethod
    def _compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Move each row's masked positions to the front (the CRF needs left-aligned masks)."""
        lengths = mask.sum(1)
        L = int(lengths.max())
        idx = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :L]
        gathered = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]) if x.ndim == 3 else idx)
        new_mask = torch.arange(L, device=x.device)[None] < lengths[:, None]
        return gathered, new_mask

    def loss(self, h: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per sequence (CRF) or mean token cross-entropy; h (B, L, d), tags/mask (B, L)."""
        emissions = self.emit(h)
        if self.crf is None:
            return masked_cross_entropy(emissions, tags, mask)
        e, m = self._compact(emissions, mask)
        t, _ = self._compact(tags, mask)
        return -self.crf(e, t, mask=m, reduction="mean")

    def decode(self, h: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Best tag sequence over the masked positions of each row (Viterbi with a CRF, else argmax)."""
        emissions = self.emit(h)
        if self.crf is None:
            best = emissions.argmax(-1)
            return [best[b][mask[b]].tolist() for b in range(h.shape[0])]
        e, m = self._compact(emissions, mask)
        return self.crf.decode(e, mask=m)
