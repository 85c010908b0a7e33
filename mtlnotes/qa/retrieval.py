"""Sentence retrieval for textbook QA (He et al., ICANN 2021, §3.2 and §4.2), with BM25 in place of Solr.

The paper indexes every lesson sentence in Solr (OpenNLP tokenizer, POS filter, chunker, lemmatizer), queries it
with the question concatenated with one candidate answer, keeps only sentences of the question's lesson, and
keeps a retrieved sentence only if it shares at least one non-stop word with the candidate answer; the top 10
such sentences form the passage p_k. Here Okapi BM25 (``rank_bm25.BM25Okapi``, Solr's default similarity)
ranks the sentences, with lower-casing and word tokenisation instead of the OpenNLP chain, and
scikit-learn's English stop-word list. Ties keep the sentences' order in the lesson.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = ["STOP_WORDS", "tokenize", "content_words", "SentenceRetriever"]

STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric words."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The non-stop words of ``text``."""
    return {w for w in tokenize(text) if w not in STOP_WORDS}


class SentenceRetriever:
    """BM25 over sentences grouped by lesson; :meth:`retrieve` applies §3.2's overlap rule and top-k.

    ``sentences`` (S,) strings and ``groups`` (S,) their lesson ids (None: one group).
    """

    def __init__(self, sentences: Sequence[str], groups: Sequence[str] | None = None, k1: float = 1.5,
                 b: float = 0.75) -> None:
        if groups is not None and len(groups) != len(sentences):
            raise ValueError(f"need one group per sentence: {len(sentences)} sentences, {len(groups)} groups")
        self.sentences = list(sentences)
        self.groups = list(groups) if groups is not None else [""] * len(self.sentences)
        self.k1, self.b = k1, b
        self._members: dict[str, list[int]] = {}
        for i, g in enumerate(self.groups):
            self._members.setdefault(g, []).append(i)
        self._tokens = [tokenize(s) for s in self.sentences]
        self._content = [set(t) - STOP_WORDS for t in self._tokens]
        self._index: dict[str, BM25Okapi] = {}

    def _bm25(self, group: str) -> BM25Okapi:
        if group not in self._index:
            docs = [self._tokens[i] or [""] for i in self._members[group]]
            self._index[group] = BM25Okapi(docs, k1=self.k1, b=self.b)
        return self._index[group]

    def scores(self, query: str, group: str | None = None) -> tuple[list[int], np.ndarray]:
        """(sentence ids of the group, their BM25 scores for ``query``)."""
        g = "" if group is None else group
        if g not in self._members:
            raise KeyError(f"no sentences for lesson {group!r}")
        return self._members[g], np.asarray(self._bm25(g).get_scores(tokenize(query)), dtype=np.float64)

    def retrieve(self, question: str, answer: str, group: str | None = None, top_k: int = 10) -> list[int]:
        """Ids of the ``top_k`` best sentences for the query ``question + answer`` that share a non-stop word
        with ``answer`` (§3.2), best first."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        ids, s = self.scores(f"{question} {answer}", group)
        need = content_words(answer)
        order = np.argsort(-s, kind="stable")
        out = [ids[j] for j in order if self._content[ids[j]] & need]
        return out[:top_k]

    def passage(self, question: str, answer: str, group: str | None = None, top_k: int = 10) -> str:
        """The retrieved sentences joined by spaces (p_k)."""
        return " ".join(self.sentences[i] for i in self.retrieve(question, answer, group, top_k))
