"""From TQA lessons to encoded question sets for MHTQA (He et al., ICANN 2021, §3.2–3.4).

For every question and candidate answer a passage p_k is retrieved from the question's lesson
(:class:`~mtlnotes.qa.retrieval.SentenceRetriever`, top 10, shared-non-stop-word rule) and the pair
(p_k, q ‖ a_k) is tokenised for T_c, truncated to ``max_len`` tokens (180 in §4.2). T/F questions have no
candidate text: the passage is retrieved for the statement itself and the pair is (p, q). Diagram questions
also get their diagram's object and text features, padded to ``max_objects`` / ``max_texts`` (20 / 15, §4.2).

``text_pairs`` is any callable ``(firsts, seconds) -> {"input_ids", "attention_mask"}`` (N, T): a
:class:`WordTokenizer` for encoders trained from scratch, or :func:`hf_text_pairs` around a ``transformers``
tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from mtlnotes.data.questions import QuestionSet
from mtlnotes.data.tqa import TQALesson, TQAQuestion
from mtlnotes.qa.retrieval import SentenceRetriever

__all__ = ["WordTokenizer", "hf_text_pairs", "build_retriever", "encode_tqa_questions"]

TextPairs = Callable[[Sequence[str], Sequence[str]], dict[str, torch.Tensor]]


class WordTokenizer:
    """Whole-word vocabulary tokenizer: ``[CLS] first [SEP] second [SEP]``, first side truncated first.

    Ids: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], then the words of ``texts`` seen at least ``min_count`` times.
    """

    SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

    def __init__(self, texts: Iterable[str], max_len: int = 180, min_count: int = 1) -> None:
        if max_len < 4:
            raise ValueError(f"max_len must be >= 4, got {max_len}")
        counts: dict[str, int] = {}
        for t in texts:
            for w in self.words(t):
                counts[w] = counts.get(w, 0) + 1
        vocab = sorted(w for w, c in counts.items() if c >= min_count)
        self.index = {w: i for i, w in enumerate(self.SPECIALS + tuple(vocab))}
        self.max_len = max_len

    @staticmethod
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())

    def __len__(self) -> int:
        return len(self.index)

    def _ids(self, text: str) -> list[int]:
        return [self.index.get(w, 1) for w in self.words(text)]

    def __call__(self, firsts: Sequence[str], seconds: Sequence[str]) -> dict[str, torch.Tensor]:
        if len(firsts) != len(seconds):
            raise ValueError(f"need as many first as second segments, got {len(firsts)} and {len(seconds)}")
        ids = torch.zeros(len(firsts), self.max_len, dtype=torch.long)
        for i, (a, b) in enumerate(zip(firsts, seconds)):
            second = self._ids(b)[: self.max_len - 3]
            first = self._ids(a)[: self.max_len - 3 - len(second)]
            row = [2] + first + [3] + second + [3]
            ids[i, : len(row)] = torch.tensor(row)
        return {"input_ids": ids, "attention_mask": ids != 0}


def hf_text_pairs(tokenizer, max_len: int = 180) -> TextPairs:
    """Wrap a ``transformers`` tokenizer: pairs truncated to ``max_len`` (the passage first), padded."""
    def encode(firsts: Sequence[str], seconds: Sequence[str]) -> dict[str, torch.Tensor]:
        out = tokenizer(list(firsts), list(seconds), truncation="only_first", max_length=max_len,
                        padding="max_length", return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"].bool()}
    return encode


def build_retriever(lessons: Sequence[TQALesson]) -> SentenceRetriever:
    """One BM25 index over all lesson sentences, grouped by lesson id (§4.2: queries stay in their lesson)."""
    sentences, groups = [], []
    for lesson in lessons:
        sentences += lesson.sentences
        groups += [lesson.lesson_id] * len(lesson.sentences)
    return SentenceRetriever(sentences, groups)


def _pad_set(arrays: list[np.ndarray], width: int, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = torch.zeros(len(arrays), limit, width)
    mask = torch.zeros(len(arrays), limit, dtype=torch.bool)
    for i, a in enumerate(arrays):
        n = min(len(a), limit)
        if n:
            out[i, :n] = torch.as_tensor(a[:n], dtype=torch.float32)
            mask[i, :n] = True
    return out, mask


def encode_tqa_questions(lessons: Sequence[TQALesson], text_pairs: TextPairs, *, retriever: SentenceRetriever,
                         top_k: int = 10, max_choices: int = 7,
                         diagram_features: Callable[[str], dict[str, np.ndarray]] | None = None,
                         max_objects: int = 20, max_texts: int = 15) -> dict[str, QuestionSet]:
    """``{"tf", "mc", "diagram"} -> QuestionSet`` for the questions of ``lessons`` (kinds without questions are
    left out; MC/diagram questions with more than ``max_choices`` choices are skipped)."""
    by_kind: dict[str, list[TQAQuestion]] = {"tf": [], "mc": [], "diagram": []}
    for lesson in lessons:
        for q in lesson.questions:
            if q.kind == "tf" or len(q.choices) <= max_choices:
                by_kind[q.kind].append(q)
    if by_kind["diagram"] and diagram_features is None:
        raise ValueError("diagram questions need diagram_features (see mtlnotes.data.tqa.load_diagram_features)")
    out: dict[str, QuestionSet] = {}
    for kind, qs in by_kind.items():
        if not qs:
            continue
        if kind == "tf":
            passages = [retriever.passage(q.question, q.question, q.lesson_id, top_k) for q in qs]
            enc = text_pairs(passages, [q.question for q in qs])
            out[kind] = QuestionSet("tf", enc, torch.tensor([q.truth for q in qs]))
            continue
        firsts, seconds = [], []
        mask = torch.zeros(len(qs), max_choices, dtype=torch.bool)
        for i, q in enumerate(qs):
            for k in range(max_choices):
                a = q.choices[k] if k < len(q.choices) else ""
                firsts.append(retriever.passage(q.question, a, q.lesson_id, top_k) if a else "")
                seconds.append(f"{q.question} {a}")
            mask[i, : len(q.choices)] = True
        enc = {name: t.reshape(len(qs), max_choices, -1) for name, t in text_pairs(firsts, seconds).items()}
        labels = torch.tensor([q.answer for q in qs])
        diagram: dict[str, torch.Tensor] = {}
        if kind == "diagram":
            feats = [diagram_features(q.image) for q in qs]
            for part, limit in (("obj", max_objects), ("text", max_texts)):
                width = max(int(f[f"{part}_feats"].shape[1]) for f in feats)
                diagram[f"{part}_feats"], diagram[f"{part}_mask"] = _pad_set(
                    [f[f"{part}_feats"] for f in feats], width, limit)
                diagram[f"{part}_boxes"], _ = _pad_set([f[f"{part}_boxes"] for f in feats], 4, limit)
        out[kind] = QuestionSet(kind, enc, labels, mask, diagram)
    return out
