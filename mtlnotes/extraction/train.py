"""Train and evaluate the extraction models on passages with typed spans (cause, experiencer), via ``fit``.

Methods (the rows of Qian, Li and Tang's Table 2 that this package builds):

=================  =====================================================  ===========================
name               model                                                  paper row
=================  =====================================================  ===========================
``lstm_crf``       char embeddings → BiLSTM → CRF, joint BIO, no query     LSTM-CRF
``tagger``         encoder → softmax token classifier, joint BIO, no query BERT-Tagger
``mrc_tag``        MRC, tag head                                           BERT-MRC(Tag)
``mrc_bdy``        MRC, boundary head                                      BERT-MRC(Bdy)
``mtl_parallel``   MRC, both heads in parallel                             BERT-MRC-MTL(Parallel)
``mtl_hierarchy``  MRC, hierarchical heads with the residual connection    BERT-MRC-MTL(Hierarchy)
=================  =====================================================  ===========================

MRC methods see each passage once per element, with that element's query (§4.3); the baselines label both
elements in one pass. Training runs a fixed number of epochs and keeps the last (the paper has no
validation split), so no choice is made on the test passages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.extraction.batches import mrc_batch, tagging_batch
from mtlnotes.extraction.mrc import MRCExtractor, SequenceLabeler
from mtlnotes.extraction.spans import Span, span_counts
from mtlnotes.extraction.tokenize import QUERIES, CharVocab
from mtlnotes.fit import fit

__all__ = ["METHODS", "ELEMENTS", "TrainSettings", "build_model", "make_optimizer", "make_batches", "to_device", "predict",
           "evaluate", "train_and_evaluate"]

METHODS: dict[str, str] = {"lstm_crf": "LSTM-CRF", "tagger": "Tagger", "mrc_tag": "MRC(Tag)",
                           "mrc_bdy": "MRC(Bdy)", "mtl_parallel": "MRC-MTL(Parallel)",
                           "mtl_hierarchy": "MRC-MTL(Hierarchy)"}
ELEMENTS: tuple[str, ...] = ("cause", "experiencer")
_STRUCTURE = {"mrc_tag": "tag", "mrc_bdy": "boundary", "mtl_parallel": "parallel", "mtl_hierarchy": "hierarchy"}


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation knobs. ``lr`` for everything, or, when ``encoder_lr`` is set, ``encoder_lr`` for the
    encoder and ``lr`` for the heads (the paper's layer-wise rates for BERT, §4.3)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    encoder_lr: float | None = None
    max_len: int = 160  # §4.3, CEAC
    lam: float = 0.5  # Eq. 18
    optimizer: str = "adam"  # "adam" (non-BERT, §4.3) or "adamw" (BERT, §4.3)
    head_layer: str = "bilstm"  # the MRC heads' sequence layer: "bilstm" (§3.2) or "conv" (ours, cheaper)


def build_model(method: str, encoder: nn.Module, lam: float = 0.5, head_layer: str = "bilstm") -> nn.Module:
    """The model of ``method`` on ``encoder`` (for ``lstm_crf`` pass a :class:`BiLSTMEncoder`)."""
    if method in _STRUCTURE:
        return MRCExtractor(encoder, _STRUCTURE[method], lam=lam, head_layer=head_layer)
    if method in ("lstm_crf", "tagger"):
        return SequenceLabeler(encoder, n_types=len(ELEMENTS), crf=method == "lstm_crf")
    raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """Adam/AdamW with one rate, or layer-wise rates (encoder vs heads) when ``encoder_lr`` is set."""
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(settings.optimizer)
    if cls is None:
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {settings.optimizer!r}")
    if settings.encoder_lr is None:
        return cls(model.parameters(), lr=settings.lr)
    enc = list(model.encoder.parameters())
    ids = {id(p) for p in enc}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return cls([{"params": enc, "lr": settings.encoder_lr}, {"params": rest, "lr": settings.lr}])


def _examples(method: str, texts: Sequence[str], spans: dict[str, Sequence[Sequence[Span]]]) -> list[tuple]:
    if method in _STRUCTURE:
        return [(e, i) for e in ELEMENTS for i in range(len(texts))]
    return [(None, i) for i in range(len(texts))]


def _collate(method: str, vocab: CharVocab, texts, spans, chunk: Sequence[tuple], max_len: int) -> dict:
    idx = [i for _, i in chunk]
    if method in _STRUCTURE:
        element = chunk[0][0]
        batch = mrc_batch(vocab, [texts[i] for i in idx], [spans[element][i] for i in idx], QUERIES[element], max_len)
        batch["element"] = element
        return batch
    return tagging_batch(vocab, [texts[i] for i in idx], [[spans[e][i] for i in idx] for e in ELEMENTS], max_len)


def make_batches(method: str, vocab: CharVocab, texts: Sequence[str], spans: dict[str, Sequence[Sequence[Span]]],
                 batch_size: int, max_len: int, seed: int | None = None) -> list[dict]:
    """Batches of one element each (MRC) or of both (baselines).

    With ``seed``: shuffled, then grouped by length within pools of 20 batches (less padding) and the batch
    order shuffled again; without: in order (for evaluation).
    """
    examples = _examples(method, texts, spans)
    groups: dict[str | None, list] = {}
    for ex in examples:
        groups.setdefault(ex[0], []).append(ex)
    chunks = []
    rng = np.random.default_rng(seed) if seed is not None else None
    for group in groups.values():
        if rng is not None:
            group = [group[k] for k in rng.permutation(len(group))]
            pool = 20 * batch_size
            group = [ex for p in range(0, len(group), pool)
                     for ex in sorted(group[p:p + pool], key=lambda ex: len(texts[ex[1]]))]
        chunks += [group[k:k + batch_size] for k in range(0, len(group), batch_size)]
    if rng is not None:
        chunks = [chunks[k] for k in rng.permutation(len(chunks))]
    return [_collate(method, vocab, texts, spans, c, max_len) for c in chunks]


def to_device(batch: dict, device: torch.device | str | None) -> dict:
    """The batch with its tensors on ``device`` (other entries unchanged)."""
    if device is None:
        return batch
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def predict(model: nn.Module, batches: Sequence[dict],
            device: torch.device | str | None = None) -> tuple[dict[str, list], dict[str, list]]:
    """(predicted, gold) spans per element, in the order of ``batches``."""
    model.eval()
    pred: dict[str, list] = {e: [] for e in ELEMENTS}
    gold: dict[str, list] = {e: [] for e in ELEMENTS}
    with torch.no_grad():
        for batch in batches:
            batch = to_device(batch, device)
            if isinstance(model, MRCExtractor):
                element = batch["element"]
                pred[element] += model.decode(batch)
                gold[element] += batch["gold"]
            else:
                out = model.decode(batch)
                for t, e in enumerate(ELEMENTS):
                    pred[e] += out[t]
                    gold[e] += batch["gold"][t]
    return pred, gold


def evaluate(pred: dict[str, list], gold: dict[str, list]) -> dict[str, dict[str, float]]:
    """Span-level micro P/R/F1 per element and over all elements together ("all")."""
    out, totals = {}, np.zeros(3, dtype=int)
    for e in ELEMENTS:
        c = np.array(span_counts(pred[e], gold[e]))
        totals += c
        out[e] = _prf(*c)
    out["all"] = _prf(*totals)
    return out


def _prf(correct: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def train_and_evaluate(method: str, make_encoder: Callable[[], nn.Module], vocab: CharVocab,
                       train: tuple[Sequence[str], dict], test: tuple[Sequence[str], dict], settings: TrainSettings,
                       seed: int, checkpoint: CheckpointStore | None = None, key: str = "fit",
                       device: torch.device | str | None = None) -> dict:
    """Train ``method`` on ``train`` = (texts, spans per element) and score it on ``test``.

    Returns ``{"scores": evaluate(...), "train_loss": [per epoch], "train_seconds"}``.
    """
    torch.manual_seed(seed)
    model = build_model(method, make_encoder(), settings.lam, settings.head_layer)
    if device is not None:
        model.to(device)
    opt = make_optimizer(model, settings)
    texts, spans = train

    def step(batch: dict) -> float:
        loss = model.losses(to_device(batch, device))["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    result = fit(model, opt, step,
                 lambda epoch: make_batches(method, vocab, texts, spans, settings.batch_size, settings.max_len,
                                            seed=seed * 1000 + epoch),
                 settings.epochs, checkpoint=checkpoint, key=key, desc=method)
    test_batches = make_batches(method, vocab, test[0], test[1], 64, settings.max_len)
    pred, gold = predict(model, test_batches, device)
    return {"scores": evaluate(pred, gold), "train_loss": result.train_losses,
            "train_seconds": result.train_seconds}
