"""Known-answer tests for mtlnotes.extraction (Qian, Li and Tang, ICANN 2021): spans, decoding, F1, the MRC models."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.extraction import (bio_from_spans, boundaries_from_spans, nearest_match, span_f1, spans_from_bio,
                                 spans_from_tags, tags_from_spans)
from mtlnotes.extraction.batches import mrc_batch, tagging_batch
from mtlnotes.extraction.encoders import BiLSTMEncoder, CharTransformerEncoder
from mtlnotes.extraction.heads import TokenTagger
from mtlnotes.extraction.mrc import MRCExtractor, SequenceLabeler
from mtlnotes.extraction.tokenize import QUERIES, CharVocab, pack
from mtlnotes.extraction.train import (TrainSettings, build_model, evaluate, make_batches, predict,
                                       train_and_evaluate)

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- span_f1 (§4.1)
def test_span_f1_hand_computed():
    pred = [[(0, 1), (3, 4)], [(2, 2)], []]
    gold = [[(0, 1), (5, 6)], [(2, 2)], [(1, 3)]]
    # correct 2, predicted 3, gold 4 -> P = 2/3, R = 1/2, F1 = 2·(2/3)(1/2)/(7/6) = 4/7
    p, r, f = span_f1(pred, gold)
    assert (p, r) == pytest.approx((2 / 3, 1 / 2)) and f == pytest.approx(4 / 7)


def test_span_f1_exact_match_only_and_edge_cases():
    assert span_f1([[(0, 2)]], [[(0, 3)]]) == (0.0, 0.0, 0.0)  # off by one character is a miss
    assert span_f1([[]], [[(0, 1)]]) == (0.0, 0.0, 0.0)
    assert span_f1([[(0, 1), (0, 1)]], [[(0, 1)]]) == (1.0, 1.0, 1.0)  # duplicates count once
    with pytest.raises(ValueError, match="passages"):
        span_f1([[]], [[], []])


# ---------------------------------------------------------------- labels <-> spans, decoding (§3.2)
def test_tags_and_boundaries_from_spans():
    assert tags_from_spans([(1, 2), (4, 4)], 6) == [0, 1, 1, 0, 1, 0]
    assert boundaries_from_spans([(1, 2), (4, 4)], 6) == ([0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="does not fit"):
        tags_from_spans([(3, 6)], 6)


def test_spans_from_tags_are_maximal_runs():
    assert spans_from_tags([0, 1, 1, 0, 1]) == [(1, 2), (4, 4)]
    assert spans_from_tags([1, 1, 1]) == [(0, 2)]
    assert spans_from_tags([]) == []


def test_nearest_match_rule():
    assert nearest_match([0, 5], [2, 3, 7]) == [(0, 2), (5, 7)]
    assert nearest_match([3], [1]) == []  # an end before the start cannot pair
    assert nearest_match([0, 2], [4]) == [(2, 4)]  # start 0's nearest end lies past the next start: dropped
    assert nearest_match([4], [4]) == [(4, 4)]  # one-character answer


def test_bio_round_trip_and_overlap_rule():
    tags = bio_from_spans([[(0, 2)], [(4, 5)]], 7)
    assert tags == [1, 2, 2, 0, 3, 4, 0]
    assert spans_from_bio(tags, 2) == [[(0, 2)], [(4, 5)]]
    # overlap: the later type overwrites (an experiencer inside a cause)
    assert spans_from_bio(bio_from_spans([[(0, 4)], [(1, 2)]], 5), 2) == [[(0, 0), (3, 4)], [(1, 2)]]
    assert spans_from_bio([2, 2, 0, 4], 2) == [[(0, 1)], [(3, 3)]]  # I without B starts a span


# ---------------------------------------------------------------- packing
def test_pack_layout_and_truncation():
    vocab = CharVocab.build(["情绪的起因是什么?", "今天下雨"])
    p = pack(vocab, "今天下雨", QUERIES["cause"], max_len=16)
    assert p.ids[0] == vocab.cls and p.ids[p.offset - 1] == vocab.sep and p.ids[-1] == vocab.sep
    assert p.offset == 1 + len(QUERIES["cause"]) + 1 and p.n_chars == 4
    assert p.segments == [0] * p.offset + [1] * 5
    q = pack(vocab, "今天下雨" * 10, QUERIES["cause"], max_len=16)
    assert len(q.ids) == 16 and q.n_chars == 16 - p.offset - 1
    assert pack(vocab, "雪", None, 8).ids == [vocab.cls, vocab.unk, vocab.sep]
    with pytest.raises(ValueError, match="no room"):
        pack(vocab, "今天", QUERIES["cause"], max_len=8)


def test_mrc_batch_targets_align_with_passage_tokens():
    vocab = CharVocab.build(["abcdefg", QUERIES["cause"]])
    b = mrc_batch(vocab, ["abcdefg", "abc"], [[(1, 2), (5, 6)], [(0, 0)]], QUERIES["cause"], max_len=32)
    off = b["offset"][0]
    assert b["tag"][0, off:off + 7].tolist() == [0, 1, 1, 0, 0, 1, 1]
    assert b["start"][0, off:off + 7].tolist() == [0, 1, 0, 0, 0, 1, 0]
    assert b["end"][0, off:off + 7].tolist() == [0, 0, 1, 0, 0, 0, 1]
    assert b["passage"][1].sum() == 3 and b["tag"][:, :off].sum() == 0
    # a span cut off by max_len is not a training target, but stays in the gold spans
    c = mrc_batch(vocab, ["abcdefg"], [[(1, 2), (5, 6)]], QUERIES["cause"], max_len=off + 1 + 5)
    assert c["tag"].sum() == 2 and c["gold"] == [[(1, 2), (5, 6)]]


# ---------------------------------------------------------------- models (Eq. 11-18)
def _batch(vocab_texts=("今天下雨了我很难过", "他因为考试失败而伤心")):
    vocab = CharVocab.build(list(vocab_texts) + list(QUERIES.values()))
    return vocab, mrc_batch(vocab, list(vocab_texts), [[(0, 3)], [(3, 6)]], QUERIES["cause"], max_len=40)


def _model(structure, vocab, lam=0.5, seed=0, head_layer="bilstm"):
    torch.manual_seed(seed)
    return MRCExtractor(BiLSTMEncoder(len(vocab), 8, 4, dropout=0.0), structure, lam=lam, dropout=0.0,
                        head_layer=head_layer).eval()


def test_total_loss_is_eq18():
    vocab, b = _batch()
    for structure in ("parallel", "hierarchy"):
        m = _model(structure, vocab, lam=0.3)
        parts = m.losses(b)
        assert parts["total"].item() == pytest.approx(0.3 * parts["bdy"].item() + 0.7 * parts["tag"].item())
    assert set(_model("tag", vocab).losses(b)) == {"tag", "total"}
    assert set(_model("boundary", vocab).losses(b)) == {"bdy", "total"}


@pytest.mark.parametrize("head_layer", ["bilstm", "conv"])
def test_hierarchy_residual_eq16(head_layer):
    """With BiLSTM_tag silenced (H_tag = 0) the hierarchy's boundary logits equal the parallel model's (X_bdy = H)."""
    vocab, b = _batch()
    par, hier = _model("parallel", vocab, head_layer=head_layer), _model("hierarchy", vocab, head_layer=head_layer)
    hier.load_state_dict(par.state_dict())
    assert not torch.allclose(par(b)["start"], hier(b)["start"])
    with torch.no_grad():
        for p in hier.tag.lstm.parameters():
            p.zero_()  # all gates 0.5, candidate tanh(0) = 0 -> c = h = 0
    assert torch.allclose(par(b)["start"], hier(b)["start"]) and torch.allclose(par(b)["end"], hier(b)["end"])


@pytest.mark.parametrize("head_layer", ["bilstm", "conv"])
def test_boundary_depends_on_tag_branch_only_in_hierarchy(head_layer):
    vocab, b = _batch()
    for structure, expect in (("parallel", False), ("hierarchy", True)):
        m = _model(structure, vocab, head_layer=head_layer)
        m.zero_grad()
        m(b)["start"].sum().backward()
        g = sum(p.grad.abs().sum().item() for p in m.tag.lstm.parameters() if p.grad is not None)
        assert (g > 0) is expect


def test_conv_head_ignores_padding():
    vocab, b = _batch()
    m = _model("hierarchy", vocab, head_layer="conv")
    one = {k: v[:1] for k, v in b.items()}  # the shorter passage: padded in the batch
    n = int(one["attention"].sum())
    trimmed = {k: (v[:, :n] if isinstance(v, torch.Tensor) else v) for k, v in one.items()}
    assert torch.allclose(m(one)["start"][:, :n], m(trimmed)["start"], atol=1e-6)


def test_losses_ignore_query_and_padding():
    vocab, b = _batch()
    m = _model("parallel", vocab)
    before = m.losses(b)["total"].item()
    b2 = dict(b)
    b2["tag"] = b["tag"].clone()
    b2["tag"][~b["passage"]] = 1
    assert m.losses(b2)["total"].item() == pytest.approx(before)


def test_mrc_learns_and_decodes_passage_offsets():
    """A few hundred steps on two passages: the decoded spans are the gold spans, in passage coordinates."""
    texts = ["今天下雨了我很难过", "他因为考试失败而伤心"]
    gold = {"cause": [[(0, 3)], [(3, 6)]], "experiencer": [[(5, 5)], [(0, 0)]]}
    vocab = CharVocab.build(texts + list(QUERIES.values()))
    for method in ("mrc_tag", "mtl_hierarchy", "lstm_crf"):
        torch.manual_seed(0)
        out = train_and_evaluate(method, lambda: BiLSTMEncoder(len(vocab), 16, 8, dropout=0.0), vocab,
                                 (texts, gold), (texts, gold), TrainSettings(epochs=60, batch_size=2, lr=2e-2),
                                 seed=0)
        assert out["scores"]["all"]["f1"] == 1.0, method


def test_training_is_deterministic():
    texts = ["今天下雨了我很难过", "他因为考试失败而伤心"]
    gold = {"cause": [[(0, 3)], [(3, 6)]], "experiencer": [[(5, 5)], [(0, 0)]]}
    vocab = CharVocab.build(texts + list(QUERIES.values()))
    run = lambda: train_and_evaluate("mtl_parallel", lambda: BiLSTMEncoder(len(vocab), 8, 4), vocab,  # noqa: E731
                                     (texts, gold), (texts, gold), TrainSettings(epochs=3, batch_size=1), seed=3)
    assert run()["train_loss"] == run()["train_loss"]


def test_crf_with_query_positions_masked_equals_crf_on_the_passage_alone():
    torch.manual_seed(0)
    tagger = TokenTagger(4, 5, crf=True)
    h = torch.randn(2, 6, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 0, 0]], dtype=torch.bool)
    tags = torch.tensor([[0, 0, 1, 2, 0, 0], [0, 3, 4, 0, 0, 0]])
    nll = tagger.loss(h, tags, mask)
    e = tagger.emit(h)
    ref = -(tagger.crf(e[0:1, 2:5], tags[0:1, 2:5]) + tagger.crf(e[1:2, 1:3], tags[1:2, 1:3])) / 2
    assert nll.item() == pytest.approx(ref.item(), rel=1e-6)
    assert tagger.decode(h, mask) == [tagger.crf.decode(e[0:1, 2:5])[0], tagger.crf.decode(e[1:2, 1:3])[0]]


def test_sequence_labeler_batches_and_predict_shapes():
    texts = ["今天下雨了我很难过", "他因为考试失败而伤心"]
    gold = {"cause": [[(0, 3)], [(3, 6)]], "experiencer": [[(5, 5)], [(0, 0)]]}
    vocab = CharVocab.build(texts)
    b = tagging_batch(vocab, texts, [gold["cause"], gold["experiencer"]], 32)
    assert b["bio"][0, 1:10].tolist() == [1, 2, 2, 2, 0, 3, 0, 0, 0]
    m = build_model("tagger", BiLSTMEncoder(len(vocab), 8, 4))
    assert isinstance(m, SequenceLabeler) and m.tagger.crf is None
    pred, g = predict(m, make_batches("tagger", vocab, texts, gold, 8, 32))
    assert g == gold and len(pred["cause"]) == 2
    scores = evaluate(gold, gold)
    assert scores["all"]["f1"] == 1.0 and scores["cause"]["precision"] == 1.0
    with pytest.raises(ValueError, match="unknown method"):
        build_model("bert_crf", BiLSTMEncoder(len(vocab), 8, 4))


def test_char_transformer_encoder_shapes_and_padding_invariance():
    torch.manual_seed(0)
    enc = CharTransformerEncoder(20, dim=8, layers=1, heads=2, ff=16, max_len=10, dropout=0.0).eval()
    ids = torch.tensor([[2, 5, 6, 3, 0, 0]])
    att = ids != 0
    h = enc(ids, torch.zeros_like(ids), att)
    h_short = enc(ids[:, :4], torch.zeros_like(ids[:, :4]), att[:, :4])
    assert h.shape == (1, 6, 8) and torch.allclose(h[:, :4], h_short, atol=1e-5)
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.ones(1, 11, dtype=torch.long), torch.zeros(1, 11, dtype=torch.long), torch.ones(1, 11, dtype=torch.bool))


def test_bad_structure_and_lambda():
    vocab, _ = _batch()
    with pytest.raises(ValueError, match="structure"):
        MRCExtractor(BiLSTMEncoder(len(vocab), 8, 4), "stacked")
    with pytest.raises(ValueError, match="λ"):
        MRCExtractor(BiLSTMEncoder(len(vocab), 8, 4), "parallel", lam=1.5)
