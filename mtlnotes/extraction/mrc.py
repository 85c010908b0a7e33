"""The MRC extraction models of Qian, Li and Tang (ICANN 2021, §3.2) and the sequence labelling baselines.

:class:`MRCExtractor` with ``structure``:

* ``"tag"`` — MRC(Tag): encoder → BiLSTM_tag → answer tagger (Eq. 8–10); answers are runs of tagged characters.
* ``"boundary"`` — MRC(Bdy): encoder → BiLSTM_bdy → start/end classifiers (Eq. 1–7), Nearest Match Rule.
* ``"parallel"`` — MRC-MTL(Parallel): ``X_tag = X_bdy = H`` (Eq. 11–13).
* ``"hierarchy"`` — MRC-MTL(Hierarchy): ``H_tag = BiLSTM_tag(H)``, ``X_bdy = H + H_tag`` (residual, Eq. 14–17).

The multi-task loss is ``λ·L_bdy + (1−λ)·L_tag`` (Eq. 18, λ = 0.5) and the answer of both MTL structures is
decided by the boundary head (§3.2, "The final answer is decided by BiLSTM_bdy using Eq. (1)(2)(3)(4)").

:class:`SequenceLabeler` is the baselines' form: the passage alone (no query) labelled with joint BIO tags over
cause and experiencer, with a CRF (LSTM-CRF) or a per-token softmax (the Tagger).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from mtlnotes.extraction.heads import BoundaryHead, TagHead, TokenTagger
from mtlnotes.extraction.spans import Span, nearest_match, spans_from_bio, spans_from_tags

__all__ = ["Structure", "STRUCTURES", "MRCExtractor", "SequenceLabeler"]

Structure = Literal["tag", "boundary", "parallel", "hierarchy"]
STRUCTURES: tuple[str, ...] = ("tag", "boundary", "parallel", "hierarchy")


class MRCExtractor(nn.Module):
    """Query-aware encoder + tag and/or boundary heads; BiLSTMs have ``encoder.dim // 2`` units per direction
    so that ``H_tag`` has the width of ``H`` (needed by the residual ``X_bdy = H + H_tag``). ``head_layer="conv"``
    replaces the heads' BiLSTMs by width-3 convolutions (a CPU-time compromise, not the paper's model)."""

    def __init__(self, encoder: nn.Module, structure: Structure, lam: float = 0.5, dropout: float = 0.1,
                 head_layer: str = "bilstm") -> None:
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"λ must be in [0, 1], got {lam}")
        dim = encoder.dim
        if dim % 2:
            raise ValueError(f"the encoder width must be even (BiLSTM halves), got {dim}")
        self.encoder, self.structure, self.lam = encoder, structure, lam
        self.tag = TagHead(dim, dim // 2, dropout, head_layer) if structure != "boundary" else None
        self.bdy = BoundaryHead(dim, dim // 2, dropout, head_layer) if structure != "tag" else None

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """Logits ``tag`` (B, L, 2) and/or ``start``, ``end`` (B, L, 2)."""
        att = batch["attention"]
        h = self.encoder(batch["ids"], batch["segments"], att)
        out = {}
        h_tag = None
        if self.tag is not None:
            h_tag, out["tag"] = self.tag(h, att)  # Eq. 12 / 15
        if self.bdy is not None:
            x_bdy = h + h_tag if self.structure == "hierarchy" else h  # Eq. 16 / Eq. 11
            out["start"], out["end"] = self.bdy(x_bdy, att)  # Eq. 13 / 17, then Eq. 1–2
        return out

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """``L_tag``, ``L_bdy`` (whichever exist) and ``total`` (Eq. 18 for the MTL structures)."""
        out = self(batch)
        mask = batch["passage"]
        parts = {}
        if "tag" in out:
            parts["tag"] = TagHead.loss(out["tag"], batch["tag"], mask)
        if "start" in out:
            parts["bdy"] = BoundaryHead.loss(out["start"], out["end"], batch["start"], batch["end"], mask)
        if self.structure in ("parallel", "hierarchy"):
            parts["total"] = self.lam * parts["bdy"] + (1 - self.lam) * parts["tag"]
        else:
            parts["total"] = parts["tag" if self.structure == "tag" else "bdy"]
        return parts

    @torch.no_grad()
    def decode(self, batch: dict) -> list[list[Span]]:
        """Predicted spans per passage, in passage character offsets (Eq. 3–4 + Nearest Match, or Eq. 9)."""
        out = self(batch)
        mask = batch["passage"]
        spans = []
        for b, offset in enumerate(batch["offset"]):
            if self.structure == "tag":
                tags = out["tag"][b].argmax(-1)[mask[b]].tolist()
                spans.append(spans_from_tags(tags))
            else:
                starts = (out["start"][b].argmax(-1)[mask[b]] == 1).nonzero().flatten().tolist()
                ends = (out["end"][b].argmax(-1)[mask[b]] == 1).nonzero().flatten().tolist()
                spans.append(nearest_match(starts, ends))
        return spans


class SequenceLabeler(nn.Module):
    """Encoder + joint BIO tagging over ``n_types`` element types, with or without a CRF."""

    def __init__(self, encoder: nn.Module, n_types: int = 2, crf: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder, self.n_types = encoder, n_types
        self.drop = nn.Dropout(dropout)
        self.tagger = TokenTagger(encoder.dim, 1 + 2 * n_types, crf=crf)

    def _h(self, batch: dict) -> torch.Tensor:
        return self.drop(self.encoder(batch["ids"], batch["segments"], batch["attention"]))

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"total": self.tagger.loss(self._h(batch), batch["bio"], batch["passage"])}

    @torch.no_grad()
    def decode(self, batch: dict) -> list[list[list[Span]]]:
        """Spans per type, per passage: ``out[t][i]``."""
        paths = self.tagger.decode(self._h(batch), batch["passage"])
        per_passage = [spans_from_bio(p, self.n_types) for p in paths]
        return [[pp[t] for pp in per_passage] for t in range(self.n_types)]
