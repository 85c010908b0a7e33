"""Context encoders with one interface: ``encoder(ids, segments, attention) -> H (B, L, dim)``.

* :class:`BertEncoder` — the paper's query-aware context encoder (§3.2, ``H_bert``): ``transformers``'
  ``BertModel``, from pretrained weights (``bert-base-chinese``) or from a ``BertConfig`` (random weights, as in
  the tests).
* :class:`CharTransformerEncoder` — a small Transformer over characters trained from scratch: the stand-in for
  BERT where pretrained weights cannot be downloaded. Its numbers are *not* BERT's.
* :class:`BiLSTMEncoder` — character embeddings and a BiLSTM, the encoder of the LSTM-CRF baseline (§4.2).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CharTransformerEncoder", "BiLSTMEncoder", "BertEncoder", "run_lstm"]


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """A (bi)LSTM over padded batches that ignores padding: x (B, L, d_in), attention (B, L) bool -> (B, L, d_out).

    Sequences are packed, so the backward direction starts at each sequence's last real token.
    """
    lengths = attention.sum(1).clamp(min=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


class _Block(nn.Module):
    """A pre-norm Transformer encoder layer (self-attention + GELU feed-forward), written with
    ``scaled_dot_product_attention`` so that CPU runs take the fused kernel."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attention[:, None, None, :],
                                                       dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, L, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class CharTransformerEncoder(nn.Module):
    """Character, position and segment embeddings + ``layers`` pre-norm Transformer layers (BERT's layout, tiny),
    trained from scratch. ``dim`` model width, ``heads`` attention heads, ``ff`` feed-forward width, ``max_len``
    positions. Padding (``attention`` False) is never attended to."""

    def __init__(self, vocab_size: int, dim: int = 64, layers: int = 2, heads: int = 4, ff: int = 128,
                 max_len: int = 160, dropout: float = 0.1) -> None:
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)
        self.segments = nn.Embedding(2, dim)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(_Block(dim, heads, ff, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(f"sequence length {ids.shape[1]} exceeds the encoder's max_len {self.max_len}")
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.tokens(ids) + self.positions(pos)[None] + self.segments(segments))
        for layer in self.layers:
            x = layer(x, attention)
        return self.norm(x)


class BiLSTMEncoder(nn.Module):
    """Character embeddings (``emb``) + one BiLSTM (``hidden`` per direction); output dim ``2 * hidden``."""

    def __init__(self, vocab_size: int, emb: int = 64, hidden: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.dim = 2 * hidden
        self.tokens = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        return self.drop(run_lstm(self.lstm, self.drop(self.tokens(ids)), attention))


class BertEncoder(nn.Module):
    """``transformers.BertModel`` as the query-aware context encoder: returns the last layer ``H_bert``.

    Build with :meth:`pretrained` (e.g. ``"bert-base-chinese"``, where the weights exist) or :meth:`from_config`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.bert = model
        self.dim = model.config.hidden_size
        self.max_len = model.config.max_position_embeddings

    @classmethod
    def pretrained(cls, name: str = "bert-base-chinese") -> "BertEncoder":
        from transformers import BertModel

        return cls(BertModel.from_pretrained(name, add_pooling_layer=False))

    @classmethod
    def from_config(cls, config) -> "BertEncoder":
        from transformers import BertModel

        return cls(BertModel(config, add_pooling_layer=False))

    def forward(self, ids: torch.Tensor, segments: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=ids, token_type_ids=segments, attention_mask=attention.long()).last_hidden_state
