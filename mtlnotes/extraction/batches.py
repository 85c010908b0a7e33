"""Model-ready batches for MRC extraction (one query per element) and for sequence labelling baselines."""

from __future__ import annotations

from collections.abc import Sequence

from mtlnotes.extraction.spans import Span, bio_from_spans, boundaries_from_spans, tags_from_spans
from mtlnotes.extraction.tokenize import CharVocab, collate, pack

__all__ = ["mrc_batch", "tagging_batch", "fitting"]


def fitting(spans: Sequence[Span], n_chars: int) -> list[Span]:
    """The spans that lie wholly inside the first ``n_chars`` characters (the rest are cut off by ``max_len``)."""
    return [(s, e) for s, e in spans if e < n_chars]


def mrc_batch(vocab: CharVocab, texts: Sequence[str], spans: Sequence[Sequence[Span]], query: str,
              max_len: int) -> dict:
    """``[CLS] query [SEP] passage [SEP]`` inputs with ``tag``, ``start``, ``end`` targets (Eq. 5, 6, 10).

    Also ``gold`` (all spans of each passage, including any cut off by ``max_len``: they count as misses in
    evaluation), ``offset`` and ``n_chars`` per passage.
    """
    packed = [pack(vocab, t, query, max_len) for t in texts]
    labels = []
    for p, sp in zip(packed, spans):
        kept = fitting(sp, p.n_chars)
        start, end = boundaries_from_spans(kept, p.n_chars)
        labels.append({"tag": tags_from_spans(kept, p.n_chars), "start": start, "end": end})
    batch = collate(packed, vocab.pad, labels)
    batch.update(gold=[list(map(tuple, s)) for s in spans], offset=[p.offset for p in packed],
                 n_chars=[p.n_chars for p in packed])
    return batch


def tagging_batch(vocab: CharVocab, texts: Sequence[str], spans_by_type: Sequence[Sequence[Sequence[Span]]],
                  max_len: int) -> dict:
    """``[CLS] passage [SEP]`` inputs with joint BIO targets ``bio`` over the element types.

    ``spans_by_type[t][i]``: spans of type ``t`` in passage ``i``; ``gold`` is then per type, per passage.
    """
    packed = [pack(vocab, t, None, max_len) for t in texts]
    labels = [{"bio": bio_from_spans([fitting(sp[i], p.n_chars) for sp in spans_by_type], p.n_chars)}
              for i, p in enumerate(packed)]
    batch = collate(packed, vocab.pad, labels)
    batch.update(gold=[[list(map(tuple, s)) for s in sp] for sp in spans_by_type], offset=[p.offset for p in packed],
                 n_chars=[p.n_chars for p in packed])
    return batch
