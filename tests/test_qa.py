"""mtlnotes.qa (He et al., ICANN 2021): CIDF (Eqs. 2–7), the heads (Eq. 1), encoders, model, retrieval, training."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.data.questions import QuestionSet
from mtlnotes.qa.cidf import CIDF, DualFusion, GatedOutput, SpatialEmbedding
from mtlnotes.qa.encoders import DigitContextEncoder, PretrainedEncoder, TokenTransformerEncoder
from mtlnotes.qa.heads import ComparisonLayer, DiagramHead, MultipleChoiceHead, TrueFalseHead
from mtlnotes.qa.model import FeatureDiagramInputs, ImageDiagramInputs, MultiHeadQA, question_loss
from mtlnotes.qa.retrieval import SentenceRetriever, content_words
from mtlnotes.qa.train import STRATEGIES, epoch_batches, train_strategy

pytestmark = pytest.mark.usefixtures("one_thread")
H = 8


def _all_params_get_gradients(module: torch.nn.Module, loss: torch.Tensor) -> None:
    loss.backward()
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing}"


# ---------------------------------------------------------------- CIDF (§3.4)


def test_dual_fusion_with_zero_bilinear_weights_averages_the_keys():
    # W_u = 0: all scores equal, softmax uniform, S = mean of keys; W_ou = I: Z = ReLU(mean)
    df = DualFusion(H)
    with torch.no_grad():
        df.bilinear.weight.zero_()
        df.out.weight.copy_(torch.eye(H))
    q, k = torch.randn(2, 3, H), torch.randn(2, 5, H)
    z = df(q, k)
    assert z.shape == (2, 3, H)
    torch.testing.assert_close(z, torch.relu(k.mean(dim=1, keepdim=True)).expand(2, 3, H))


def test_dual_fusion_matches_eq4_written_out():
    torch.manual_seed(0)
    df = DualFusion(H)
    u, v = torch.randn(1, 3, H), torch.randn(1, 4, H)
    w_u, w_o = df.bilinear.weight.T, df.out.weight.T  # nn.Linear computes x W^T
    a = u[0] @ w_u @ v[0].T  # (N_t, N_o)
    z = torch.relu(torch.softmax(a / H ** 0.5, dim=1) @ v[0] @ w_o)
    torch.testing.assert_close(df(u, v)[0], z)


def test_dual_fusion_ignores_masked_keys():
    torch.manual_seed(0)
    df = DualFusion(H)
    q, k = torch.randn(1, 2, H), torch.randn(1, 3, H)
    padded = torch.cat([k, 100 * torch.randn(1, 2, H)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    torch.testing.assert_close(df(q, padded, mask), df(q, k))


def test_gated_output_eq6_limits():
    gate = GatedOutput(H)
    zu, zv, c = torch.randn(2, 3, H), torch.randn(2, 4, H), torch.randn(2, H)
    with torch.no_grad():
        for lin in (gate.w_gu, gate.w_gv, gate.w_gc):
            lin.weight.zero_()
    # g = tanh(0) = 0: O = z̄_v = max over objects
    torch.testing.assert_close(gate(zu, zv, c), zv.max(dim=1).values)
    with torch.no_grad():
        gate.w_gc.weight.copy_(1e4 * torch.eye(H))
    c = torch.ones(2, H)  # g = tanh(large) = 1: O = z̄_u
    torch.testing.assert_close(gate(zu, zv, c), zu.max(dim=1).values)


def test_spatial_embedding_is_layer_normed_and_checks_boxes():
    emb = SpatialEmbedding(H)
    out = emb(torch.rand(2, 5, 4))
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="4 coordinates"):
        emb(torch.rand(2, 5, 3))


def test_cidf_shapes_gradients_and_padding():
    torch.manual_seed(0)
    cidf = CIDF(H, n_layers=2)
    v, vb, u, ub = torch.randn(2, 3, H), torch.rand(2, 3, 4), torch.randn(2, 4, H), torch.rand(2, 4, 4)
    c = torch.randn(2, 5, H)  # five candidate contexts per diagram
    out = cidf(v, vb, u, ub, c)
    assert out.shape == (2, 5, H)
    # the same diagram with one context at a time gives the same rows
    torch.testing.assert_close(cidf(v, vb, u, ub, c[:, 1]), out[:, 1])
    # padding objects/texts with masks leaves the output unchanged
    vp = torch.cat([v, torch.randn(2, 2, H)], 1)
    vbp = torch.cat([vb, torch.rand(2, 2, 4)], 1)
    om = torch.tensor([[True] * 3 + [False] * 2] * 2)
    torch.testing.assert_close(cidf(vp, vbp, u, ub, c, obj_mask=om), out)
    _all_params_get_gradients(cidf, out.square().sum())


def test_cidf_with_zero_layers_returns_ones_and_errors():
    cidf = CIDF(H, n_layers=0)
    c = torch.randn(2, 3, H)
    assert torch.equal(cidf(torch.randn(2, 1, H), torch.rand(2, 1, 4), torch.randn(2, 1, H), torch.rand(2, 1, 4), c),
                       torch.ones(2, 3, H))
    with pytest.raises(ValueError, match="n_layers"):
        CIDF(H, -1)
    with pytest.raises(ValueError, match="channels"):
        CIDF(H, 1)(torch.randn(2, 1, H + 1), torch.rand(2, 1, 4), torch.randn(2, 1, H), torch.rand(2, 1, 4), c)


# ---------------------------------------------------------------- heads (§3.3, Eq. 1)


def test_comparison_layer_two_candidates_by_hand():
    # K = 2: the only other candidate gets G_12 = 1, so Ĉ_1 = C̄_2 and C̃_1 = ReLU(W_cc C_1 + W_oc C̄_2)
    torch.manual_seed(0)
    layer = ComparisonLayer(H, max_choices=2)
    c = torch.randn(1, 2, H)
    c_bar = torch.tanh(layer.w_c(c))
    expect0 = torch.relu(layer.w_cc(c[:, 0]) + layer.w_oc(c_bar[:, 1]))
    expect1 = torch.relu(layer.w_cc(c[:, 1]) + layer.w_oc(c_bar[:, 0]))
    out = layer(c)
    torch.testing.assert_close(out[:, 0], expect0)
    torch.testing.assert_close(out[:, 1], expect1)


def test_comparison_layer_attention_weights_by_hand():
    # K = 3, W_c = W_cq = I: G_1j ∝ exp(C̄_1 · C̄_j / sqrt(h)) over j = 2, 3
    layer = ComparisonLayer(2, max_choices=3)
    with torch.no_grad():
        layer.w_c.weight.copy_(torch.eye(2))
        layer.w_cq.weight.copy_(torch.eye(2))
        layer.w_cc.weight.zero_()
        layer.w_cc.bias.zero_()
        layer.w_oc.weight.copy_(torch.eye(2, 4))  # keep the first block: G_12 C̄_2
    c = torch.tensor([[[0.5, 0.2], [0.3, -0.4], [1.0, 0.7]]])
    cb = torch.tanh(c[0])
    s = torch.stack([cb[0] @ cb[1], cb[0] @ cb[2]]) / 2 ** 0.5
    g12 = torch.softmax(s, 0)[0]
    torch.testing.assert_close(layer(c)[0, 0], torch.relu(g12 * cb[1]))


def test_multiple_choice_head_masks_missing_choices():
    torch.manual_seed(0)
    head = MultipleChoiceHead(H, max_choices=4)
    c = torch.randn(2, 4, H)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    s = head(c, mask)
    assert s.shape == (2, 4) and s[0, 3] == float("-inf") and torch.isfinite(s[1]).all()
    c2 = c.clone()
    c2[0, 3] = 50.0  # the padded candidate's content does not matter
    torch.testing.assert_close(head(c2, mask)[0, :3], s[0, :3])
    # fewer choices than max_choices are padded inside
    assert head(c[:, :3]).shape == (2, 3)
    with pytest.raises(ValueError, match="at most 4"):
        head(torch.randn(1, 5, H))
    with pytest.raises(ValueError, match="max_choices"):
        ComparisonLayer(H, 1)


def test_heads_shapes_and_gradients():
    torch.manual_seed(0)
    tf = TrueFalseHead(H)
    assert tf(torch.randn(3, H)).shape == (3, 2)
    with pytest.raises(ValueError, match="context features"):
        tf(torch.randn(3, 2, H))
    dh = DiagramHead(H, n_layers=2)
    s = dh(torch.randn(2, 4, H), torch.randn(2, 3, H), torch.rand(2, 3, 4), torch.randn(2, 2, H), torch.rand(2, 2, 4))
    assert s.shape == (2, 4)
    _all_params_get_gradients(dh, s.sum())


# ---------------------------------------------------------------- encoders


def test_token_transformer_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = TokenTransformerEncoder(20, H, n_layers=1, n_heads=2, max_len=10).eval()
    ids = torch.tensor([[2, 5, 6, 3, 0, 0]])
    longer = torch.tensor([[2, 5, 6, 3, 0, 0, 0, 0]])
    a = enc(ids, ids != 0)
    torch.testing.assert_close(a, enc(longer, longer != 0))
    assert a.shape == (1, H)
    with pytest.raises(ValueError, match="input_ids"):
        enc(torch.zeros(1, 11, dtype=torch.long), torch.ones(1, 11, dtype=torch.bool))


def test_pretrained_encoder_wraps_a_transformers_model_and_reports_missing_weights():
    from transformers import RobertaConfig, RobertaModel

    from mtlnotes.data.cache import DataMissingError

    cfg = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=40)
    torch.manual_seed(0)
    enc = PretrainedEncoder(RobertaModel(cfg))
    ids = torch.randint(3, 50, (3, 7))
    out = enc(ids, torch.ones_like(ids, dtype=torch.bool))
    assert out.shape == (3, 16) and enc.hidden == 16
    with pytest.raises(DataMissingError, match="not on this machine"):
        PretrainedEncoder("/nonexistent/roberta-large-weights")


def test_digit_encoder_runs_the_trunk_once_per_question():
    torch.manual_seed(0)
    enc = DigitContextEncoder(H)
    x, a = torch.rand(2, 1, 28, 28), torch.tensor([[1, 2, 3], [4, 5, 6]])
    per_choice = enc(x, a)
    assert per_choice.shape == (2, 3, H)
    torch.testing.assert_close(per_choice[:, 1], enc(x, a[:, 1]))
    with pytest.raises(ValueError, match="candidates"):
        enc(x, torch.tensor([1, 2, 3]))


# ---------------------------------------------------------------- model and training


def _digit_sets(n=12, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    tf = QuestionSet("tf", {"image": x, "answer": torch.randint(10, (n,), generator=g)},
                     torch.randint(2, (n,), generator=g))
    mc = QuestionSet("mc", {"image": x, "answer": torch.randint(10, (n, k), generator=g)},
                     torch.randint(k, (n,), generator=g))
    dg = QuestionSet("diagram", {"image": x, "answer": torch.randint(10, (n, k), generator=g)},
                     torch.randint(k, (n,), generator=g),
                     diagram={"obj_images": torch.rand(n, 2, 1, 28, 28, generator=g),
                              "obj_boxes": torch.rand(n, 2, 4, generator=g),
                              "text_tokens": torch.randint(10, (n, 2), generator=g),
                              "text_boxes": torch.rand(n, 2, 4, generator=g)})
    return {"tf": tf, "mc": mc, "diagram": dg}


def _digit_model(k=3):
    return MultiHeadQA(DigitContextEncoder(H), ImageDiagramInputs(H, 10), H, max_choices=k, n_cdf_layers=1)


def test_model_scores_every_question_type_and_trains_all_parameters():
    torch.manual_seed(0)
    model = _digit_model()
    sets = _digit_sets()
    assert model.scores(sets["tf"]).shape == (12, 2)
    assert model.scores(sets["mc"]).shape == (12, 3)
    assert model.scores(sets["diagram"]).shape == (12, 3)
    loss = sum(question_loss(model, q) for q in sets.values())
    _all_params_get_gradients(model, loss)


def test_feature_diagram_inputs_eq3_one_projection_of_concatenated_embeddings():
    torch.manual_seed(0)
    fd = FeatureDiagramInputs(obj_dim=6, text_dim=5, hidden=H)
    u_ft, u_gl = torch.randn(1, 2, 3), torch.randn(1, 2, 2)
    _, u = fd({"obj_feats": torch.randn(1, 1, 6), "text_feats": torch.cat([u_ft, u_gl], -1)})
    w = fd.text.weight.T  # (5, H) = [W_f; W_g]
    torch.testing.assert_close(u, u_ft @ w[:3] + u_gl @ w[3:])


def test_epoch_batches_cover_each_question_once_in_schedule_order():
    order = epoch_batches({"a": 10, "b": 40}, {"a": 5, "b": 5}, "mql", seed=0, epoch=0)
    assert [t for t, _ in order] == ["a"] + ["b"] * 4 + ["a"] + ["b"] * 4
    for name, n in (("a", 10), ("b", 40)):
        idx = torch.cat([i for t, i in order if t == name])
        assert sorted(idx.tolist()) == list(range(n))
    again = epoch_batches({"a": 10, "b": 40}, {"a": 5, "b": 5}, "mql", seed=0, epoch=0)
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(order, again))
    with pytest.raises(ValueError, match="schedule"):
        epoch_batches({"a": 10}, {"a": 5}, "uniform", seed=0, epoch=0)


def test_train_strategy_is_deterministic_and_independent_uses_one_model_per_type():
    sets = _digit_sets()
    bs = {"tf": 4, "mc": 4, "diagram": 4}
    a = train_strategy(_digit_model, STRATEGIES["mql_all"], sets, sets, sets, bs, epochs=2, lr=1e-2, seed=3)
    b = train_strategy(_digit_model, STRATEGIES["mql_all"], sets, sets, sets, bs, epochs=2, lr=1e-2, seed=3)
    assert a == b
    ind = train_strategy(_digit_model, STRATEGIES["independent"], sets, sets, sets, bs, epochs=1, lr=1e-2, seed=3)
    assert set(ind["best_epoch"]) == {"tf", "mc", "diagram"}
    assert ind["test"]["all"] == pytest.approx(sum(ind["test"][t] for t in ("tf", "mc", "diagram")) / 3)


def test_question_set_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        QuestionSet("essay", {}, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="rows"):
        QuestionSet("tf", {"image": torch.zeros(2, 1)}, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="0 \\(false\\) or 1"):
        QuestionSet("tf", {"image": torch.zeros(2, 1)}, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="diagram tensors"):
        QuestionSet("diagram", {"answer": torch.zeros(2, 3)}, torch.zeros(2, dtype=torch.long))


# ---------------------------------------------------------------- retrieval (§3.2)


SENTENCES = ["Plants make glucose by photosynthesis.",
             "Photosynthesis happens in the chloroplast of plant cells.",
             "Glucose is a simple sugar.",
             "The mantle lies below the crust.",
             "Photosynthesis photosynthesis photosynthesis needs light."]
GROUPS = ["L1", "L1", "L1", "L2", "L1"]


def test_retrieval_keeps_only_sentences_sharing_a_content_word_with_the_answer():
    r = SentenceRetriever(SENTENCES, GROUPS)
    # the query mentions photosynthesis a lot, but the answer is "glucose": only sentences with "glucose" qualify
    got = r.retrieve("what does photosynthesis make", "glucose", "L1", top_k=10)
    assert set(got) == {0, 2}
    assert got[0] == 0  # the sentence matching both question and answer ranks first
    # stop words alone never qualify ("the" is in the answer and in sentence 1)
    assert r.retrieve("where does it happen", "the", "L1") == []
    assert content_words("The Plants") == {"plants"}


def test_retrieval_stays_in_the_lesson_and_respects_top_k():
    r = SentenceRetriever(SENTENCES, GROUPS)
    assert r.retrieve("what lies below", "mantle crust", "L2") == [3]
    assert r.retrieve("what lies below", "mantle crust", "L1") == []
    assert len(r.retrieve("photosynthesis", "photosynthesis", "L1", top_k=2)) == 2
    with pytest.raises(KeyError, match="L9"):
        r.retrieve("q", "a", "L9")
    with pytest.raises(ValueError, match="top_k"):
        r.retrieve("q", "a", "L1", top_k=0)


def test_retrieval_ranks_by_bm25_from_rank_bm25():
    from rank_bm25 import BM25Okapi

    r = SentenceRetriever(SENTENCES, GROUPS)
    ids, scores = r.scores("photosynthesis light", "L1")
    ref = BM25Okapi([s.lower().replace(".", "").split() for s in (SENTENCES[i] for i in ids)])
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(ref.get_scores(["photosynthesis", "light"])))
    assert r.retrieve("needs light", "photosynthesis", "L1")[0] == 4
