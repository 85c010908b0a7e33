"""The BERT-MRC-MTL chapter's experiment: the paper path (BERT) end to end on a tiny random BERT, claims, tables."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlnotes.data.ceac import parse_line
from mtlnotes.experiments import bert_mrc_mtl as exp
from mtlnotes.extraction.encoders import BertEncoder
from mtlnotes.extraction.tokenize import QUERIES

pytestmark = pytest.mark.usefixtures("one_thread")

LINES = [
    "<experiencer>我</experiencer>因为<cause id=1 type=n>他的话</cause><keyword>难过</keyword>",
    "<cause id=1 type=v>下雨了</cause>，<experiencer>她</experiencer>很<keyword>伤心</keyword>",
    "<experiencer>他们</experiencer>为<cause id=1 type=n>比赛</cause>和<cause id=2 type=v>胜利</cause>而<keyword>高兴</keyword>",
    "听说<cause id=1 type=v>朋友来了</cause>，<experiencer>我</experiencer><keyword>高兴</keyword>",
]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 1-layer BERT (hidden 16) and a character tokenizer saved like ``bert-base-chinese``."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    passages = [parse_line(line) for line in LINES]
    chars = sorted({ch for p in passages for ch in p.text} | {ch for q in QUERIES.values() for ch in q})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n",
                                      encoding="utf-8")
    tok = transformers.BertTokenizerFast(vocab=str(folder / "vocab.txt"))
    tok.save_pretrained(folder)
    assert len(transformers.BertTokenizerFast.from_pretrained(folder).vocab) == 5 + len(chars)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(tok.vocab), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    return folder, passages


def test_paper_path_runs_end_to_end_on_a_tiny_bert(tiny_bert):
    folder, passages = tiny_bert
    config = dataclasses.replace(exp.PAPER, seeds=(0, 1), bert_name=str(folder), epochs=2, batch_size=2, max_len=40,
                                 methods=("tagger", "mtl_hierarchy"), lambda_grid=(0.25,), lambda_seeds=(0,),
                                 lstm_crf_dim=16)
    vocab = exp._vocab(config, [], "mtl_hierarchy")
    assert vocab.encode(passages[0].text) == [vocab.token_to_id[ch] for ch in passages[0].text]  # no [UNK]
    results = exp.run(config, passages=passages)
    assert set(results["scores"]) == {"tagger", "mtl_hierarchy"} and len(results["scores"]["tagger"]) == 2
    assert len(results["lambda"]["0.25"]) == 1
    for per_split in results["scores"].values():
        for s in per_split:
            assert 0.0 <= s["all"]["f1"] <= 1.0
    rows = exp.summary_rows(results)
    assert [r["method"] for r in rows] == ["Tagger", "MRC-MTL(Hierarchy)"] and rows[1]["all (paper)"] == 77.76
    claims = exp.claims(results, config)
    assert any(c.claim.startswith("MRC-MTL(Hierarchy) reaches") for c in claims)


def test_paper_settings_follow_section_4_3():
    s = exp.PAPER.settings("mtl_hierarchy")
    assert (s.lr, s.encoder_lr, s.optimizer, s.max_len, s.lam) == (1e-4, 1e-5, "adamw", 160, 0.5)
    assert exp.PAPER.settings("mrc_tag").lr == 1e-5 and exp.PAPER.settings("mrc_tag").encoder_lr is None
    assert exp.PAPER.settings("lstm_crf").optimizer == "adam" and exp.PAPER.settings("lstm_crf").lr == 1e-3
    assert exp.PAPER.settings("mtl_parallel", lam=0.25).lam == 0.25


def test_bert_encoder_uses_segments_and_mask(tiny_bert):
    folder, _ = tiny_bert
    enc = BertEncoder.pretrained(str(folder)).eval()
    ids = torch.tensor([[2, 5, 3, 6, 3, 0]])
    att = ids != 0
    h = enc(ids, torch.tensor([[0, 0, 0, 1, 1, 0]]), att)
    assert h.shape == (1, 6, 16) and enc.dim == 16
    assert not torch.allclose(h, enc(ids, torch.zeros_like(ids), att))


def _fake_results(values: dict[str, list[float]]) -> dict:
    return {"scores": {m: [{"cause": {"f1": v}, "experiencer": {"f1": v}, "all": {"f1": v}} for v in vs]
                       for m, vs in values.items()}}


def test_claims_are_inconclusive_inside_the_spread_and_judged_outside():
    cfg = dataclasses.replace(exp.OFFLINE, seeds=(0, 1, 2, 3))
    clear = _fake_results({"mtl_hierarchy": [0.60, 0.61, 0.62, 0.63], "mtl_parallel": [0.50, 0.52, 0.51, 0.53]})
    c = exp.claims(clear, cfg)[0]
    assert c.claim.startswith("MRC-MTL(Hierarchy) beats") and c.holds is True
    noisy = _fake_results({"mtl_hierarchy": [0.60, 0.50, 0.62, 0.48], "mtl_parallel": [0.55, 0.56, 0.54, 0.53]})
    c = exp.claims(noisy, cfg)[0]
    assert c.holds is None and c.verdict == "inconclusive" and "inconclusive" in c.note
    worse = _fake_results({"mtl_hierarchy": [0.40, 0.41, 0.42, 0.43], "mtl_parallel": [0.50, 0.52, 0.51, 0.53]})
    assert exp.claims(worse, cfg)[0].holds is False
    single = _fake_results({"mtl_hierarchy": [0.9], "mtl_parallel": [0.1]})
    assert exp.claims(single, dataclasses.replace(cfg, seeds=(0,)))[0].holds is None  # one split: no interval
