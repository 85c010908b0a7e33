"""Character vocabularies and the MRC input layout ``[CLS] query [SEP] passage [SEP]`` (§3.2).

Every passage character is one token, for the from-scratch encoder and for BERT alike (Chinese BERT's
vocabulary holds single characters; a character it lacks becomes ``[UNK]``), so predicted token positions
map back to character offsets without alignment tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

__all__ = ["CharVocab", "Packed", "pack", "collate", "QUERIES"]

#: The task-oriented queries of §4.3.
QUERIES = {"cause": "情绪的起因是什么?", "experiencer": "情绪的感受者是谁?"}

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


class CharVocab:
    """Character → id. ``[PAD]=0``, ``[UNK]``, ``[CLS]``, ``[SEP]`` must be in ``token_to_id``.

    :meth:`build` makes one from texts (characters seen at least ``min_count`` times);
    :meth:`from_bert_vocab` wraps a BERT tokenizer's vocabulary (``tokenizer.vocab``).
    """

    def __init__(self, token_to_id: Mapping[str, int], lowercase: bool = False) -> None:
        missing = [s for s in SPECIALS if s not in token_to_id]
        if missing:
            raise ValueError(f"vocabulary lacks the special tokens {missing}")
        self.token_to_id = dict(token_to_id)
        self.lowercase = lowercase
        self.pad, self.unk = self.token_to_id["[PAD]"], self.token_to_id["[UNK]"]
        self.cls, self.sep = self.token_to_id["[CLS]"], self.token_to_id["[SEP]"]

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> "CharVocab":
        counts = Counter(ch for t in texts for ch in t)
        chars = sorted(ch for ch, c in counts.items() if c >= min_count and ch not in SPECIALS)
        return cls({**{s: i for i, s in enumerate(SPECIALS)}, **{ch: i + len(SPECIALS) for i, ch in enumerate(chars)}})

    @classmethod
    def from_bert_vocab(cls, vocab: Mapping[str, int]) -> "CharVocab":
        return cls(vocab, lowercase=True)

    def __len__(self) -> int:
        return max(self.token_to_id.values()) + 1

    def encode(self, text: str) -> list[int]:
        """One id per character (``[UNK]`` for unknown ones)."""
        get = self.token_to_id.get
        if self.lowercase:
            return [get(ch, get(ch.lower(), self.unk)) for ch in text]
        return [get(ch, self.unk) for ch in text]


@dataclass(frozen=True)
class Packed:
    """One model input. ``ids``/``segments``: (L,) lists; passage character ``i`` sits at token ``offset + i``
    for ``i < n_chars`` (the passage is cut to fit ``max_len``)."""

    ids: list[int]
    segments: list[int]
    offset: int
    n_chars: int


def pack(vocab: CharVocab, passage: str, query: str | None, max_len: int) -> Packed:
    """``[CLS] query [SEP] passage [SEP]`` (or ``[CLS] passage [SEP]`` without a query), cut to ``max_len``."""
    head = [vocab.cls] + (vocab.encode(query) + [vocab.sep] if query else [])
    room = max_len - len(head) - 1
    if room < 1:
        raise ValueError(f"max_len {max_len} leaves no room for the passage after a query of {len(head)} tokens")
    body = vocab.encode(passage)[:room]
    ids = head + body + [vocab.sep]
    segments = [0] * len(head) + [1] * (len(body) + 1)
    return Packed(ids, segments, len(head), len(body))


def collate(items: Sequence[Packed], pad: int, labels: Sequence[Mapping[str, Sequence[int]]] = ()) -> dict:
    """Pad a batch to its longest item.

    Returns ``ids``, ``segments``, ``attention`` (B, L) and ``passage`` (B, L) bool (the passage characters),
    and for each key of ``labels`` (per-character label lists) a (B, L) long tensor aligned with the tokens
    (zeros outside the passage).
    """
    L = max(len(p.ids) for p in items)
    B = len(items)
    ids = torch.full((B, L), pad, dtype=torch.long)
    seg = torch.zeros((B, L), dtype=torch.long)
    att = torch.zeros((B, L), dtype=torch.bool)
    passage = torch.zeros((B, L), dtype=torch.bool)
    out_labels = {k: torch.zeros((B, L), dtype=torch.long) for k in (labels[0] if labels else {})}
    for b, p in enumerate(items):
        n = len(p.ids)
        ids[b, :n] = torch.tensor(p.ids)
        seg[b, :n] = torch.tensor(p.segments)
        att[b, :n] = True
        passage[b, p.offset:p.offset + p.n_chars] = True
        for k, v in (labels[b].items() if labels else ()):
            out_labels[k][b, p.offset:p.offset + p.n_chars] = torch.tensor(list(v)[:p.n_chars], dtype=torch.long)
    return {"ids": ids, "segments": seg, "attention": att, "passage": passage, **out_labels}
