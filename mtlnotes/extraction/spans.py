"""Spans ↔ per-character labels, the paper's decoding of several spans, and span-level P/R/F1.

Qian, Li and Tang (ICANN 2021), §3.2: the **tag-based** strategy labels every answer character (Eq. 8–9) and
reads answers off as runs of tagged characters; the **boundary-based** strategy predicts start and end
characters (Eq. 1–4) and pairs them by the *Nearest Match Rule*. The evaluation (§4.1) is span-level micro
precision, recall and F1 with exact matching.

Spans are ``(start, end)`` character offsets with ``end`` inclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Span", "tags_from_spans", "spans_from_tags", "boundaries_from_spans", "nearest_match",
           "bio_from_spans", "spans_from_bio", "span_f1", "span_counts"]

Span = tuple[int, int]


def _check(spans: Sequence[Span], length: int) -> None:
    for s, e in spans:
        if not (0 <= s <= e < length):
            raise ValueError(f"span ({s}, {e}) does not fit in a sequence of length {length}")


def tags_from_spans(spans: Sequence[Span], length: int) -> list[int]:
    """Binary answer tags (Eq. 10's ``Y_tag``): 1 on every character of a span, else 0."""
    _check(spans, length)
    tags = [0] * length
    for s, e in spans:
        tags[s:e + 1] = [1] * (e - s + 1)
    return tags


def spans_from_tags(tags: Sequence[int]) -> list[Span]:
    """Maximal runs of 1s (Eq. 9's ``I_tag`` read as spans): ``[0,1,1,0,1] -> [(1, 2), (4, 4)]``."""
    out, start = [], None
    for i, t in enumerate(list(tags) + [0]):
        if t and start is None:
            start = i
        elif not t and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def boundaries_from_spans(spans: Sequence[Span], length: int) -> tuple[list[int], list[int]]:
    """Start and end indicators (``Y_start``, ``Y_end`` of Eq. 5–6)."""
    _check(spans, length)
    start, end = [0] * length, [0] * length
    for s, e in spans:
        start[s], end[e] = 1, 1
    return start, end


def nearest_match(starts: Sequence[int], ends: Sequence[int]) -> list[Span]:
    """Pair predicted start and end indices by the Nearest Match Rule (§3.2, after Eq. 4).

    Spans of one kind do not overlap, so each start ``s`` is paired with the nearest end ``e >= s`` that
    comes before the next start; a start without such an end, and ends without a start, are dropped.
    ``starts=[0, 5], ends=[2, 3, 7] -> [(0, 2), (5, 7)]``.
    """
    s_sorted, e_sorted = sorted(set(starts)), sorted(set(ends))
    out = []
    for k, s in enumerate(s_sorted):
        nxt = s_sorted[k + 1] if k + 1 < len(s_sorted) else None
        e = next((e for e in e_sorted if e >= s), None)
        if e is not None and (nxt is None or e < nxt):
            out.append((s, e))
    return out


def bio_from_spans(spans_by_type: Sequence[Sequence[Span]], length: int) -> list[int]:
    """Joint BIO tags for sequence labelling baselines: 0 = O, ``1 + 2t`` = B-type t, ``2 + 2t`` = I-type t.

    One label per character cannot hold overlapping spans; later types overwrite earlier ones where they
    overlap (pass the shorter element, e.g. experiencers, last).
    """
    tags = [0] * length
    for t, spans in enumerate(spans_by_type):
        _check(spans, length)
        for s, e in spans:
            tags[s] = 1 + 2 * t
            for i in range(s + 1, e + 1):
                tags[i] = 2 + 2 * t
    return tags


def spans_from_bio(tags: Sequence[int], n_types: int) -> list[list[Span]]:
    """Spans per type from joint BIO tags; an ``I`` without a preceding ``B``/``I`` of its type starts a span."""
    out: list[list[Span]] = [[] for _ in range(n_types)]
    cur_type, start = None, None
    for i, tag in enumerate(list(tags) + [0]):
        t, inside = (None, False) if tag == 0 else ((tag - 1) // 2, tag % 2 == 0)
        if t is not None and not 0 <= t < n_types:
            raise ValueError(f"tag {tag} out of range for {n_types} types")
        if cur_type is not None and (t != cur_type or not inside):
            out[cur_type].append((start, i - 1))
            cur_type = None
        if t is not None and cur_type is None:
            cur_type, start = t, i
    return out


def span_counts(pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> tuple[int, int, int]:
    """(correct, predicted, gold) span counts over passages, exact matching, duplicates counted once."""
    if len(pred) != len(gold):
        raise ValueError(f"pred has {len(pred)} passages but gold has {len(gold)}")
    correct = n_pred = n_gold = 0
    for p, g in zip(pred, gold):
        ps, gs = {tuple(x) for x in p}, {tuple(x) for x in g}
        correct += len(ps & gs)
        n_pred += len(ps)
        n_gold += len(gs)
    return correct, n_pred, n_gold


def span_f1(pred: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> tuple[float, float, float]:
    """Span-level micro precision, recall and F1 with exact matching (§4.1).

    ``pred`` and ``gold``: one list of ``(start, end)`` pairs per passage. Empty predictions give precision
    0; P = R = 0 gives F1 = 0.

    >>> span_f1([[(0, 1), (3, 4)]], [[(0, 1), (5, 6)]])
    (0.5, 0.5, 0.5)
    """
    correct, n_pred, n_gold = span_counts(pred, gold)
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f
