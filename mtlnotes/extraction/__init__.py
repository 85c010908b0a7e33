"""Span extraction with machine reading comprehension and multi-task heads (BERT-MRC-MTL, ICANN 2021).

``spans`` (labels ↔ spans, decoding, :func:`span_f1`), ``tokenize`` (characters, query + passage packing),
``batches``, ``encoders`` (BERT via ``transformers``, a from-scratch character Transformer, a BiLSTM),
``heads`` (tag, boundary, CRF tagger), ``mrc`` (the MRC models and baselines), ``train`` (training and
evaluation on element-typed data).
"""

from mtlnotes.extraction.spans import (bio_from_spans, boundaries_from_spans, nearest_match, span_counts, span_f1,
                                       spans_from_bio, spans_from_tags, tags_from_spans)

__all__ = ["span_f1", "span_counts", "nearest_match", "tags_from_spans", "spans_from_tags", "boundaries_from_spans",
           "bio_from_spans", "spans_from_bio"]
