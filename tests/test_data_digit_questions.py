"""The offline question types built from digits (mtlnotes.data.digit_questions) and the chapter's claims."""

from __future__ import annotations

import pytest
import torch

from mtlnotes.data import ImageDataset
from mtlnotes.data.digit_questions import build_digit_questions, make_diagram

pytestmark = pytest.mark.usefixtures("one_thread")


def _fake(n, seed, name):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=g) + 1.0  # every pixel > 0, so occlusion is visible
    images[:, 0, 27, 27] = torch.arange(n, dtype=torch.float32) + 10  # bottom-right pixel: the image id
    images[:, 0, 0, 0] = (torch.arange(n) % 10).float()  # top-left pixel: the digit
    return ImageDataset(images, torch.arange(n) % 10, name)


N_TRAIN, N_VAL, N_TEST = {"tf": 40, "mc": 60, "diagram": 70}, {"tf": 10, "mc": 10, "diagram": 10}, \
    {"tf": 20, "mc": 20, "diagram": 30}


@pytest.fixture(scope="module")
def questions():
    src = {"mnist": (_fake(600, 0, "train"), _fake(300, 1, "test"))}
    return build_digit_questions(N_TRAIN, N_VAL, N_TEST, pool=(100, 50), k=4, n_objects=3, keep_rows=12, seed=0,
                                 sources=src)


def test_sizes_and_kinds(questions):
    assert questions.sizes() == {"train": N_TRAIN, "val": N_VAL, "test": N_TEST}
    assert [q.kind for q in questions.train.values()] == ["tf", "mc", "diagram"]


def test_tf_labels_say_whether_the_claim_is_the_digit(questions):
    q = questions.train["tf"]
    digit = q.inputs["image"][:, 0, 0, 0].long()
    assert torch.equal(q.labels, (q.inputs["answer"] == digit).long())
    assert 0 < q.labels.float().mean() < 1


def test_mc_candidates_are_distinct_and_hold_the_digit_at_the_label(questions):
    for q in (questions.train["mc"], questions.test["diagram"]):
        digit = q.inputs["image"][:, 0, 0, 0].long()
        cand = q.inputs["answer"]
        assert cand.shape[1] == 4
        assert torch.equal(cand[torch.arange(len(q)), q.labels], digit)
        assert all(len(set(row.tolist())) == 4 for row in cand)


def test_diagram_objects_texts_boxes_and_occlusion(questions):
    q = questions.train["diagram"]
    d = q.diagram
    obj_digits = d["obj_images"][:, :, 0, 0, 0].long()  # (n, 3)
    truth = q.inputs["answer"][torch.arange(len(q)), q.labels]
    assert (obj_digits == truth[:, None]).sum(1).eq(1).all()  # the true digit is shown exactly once
    assert all(set(o.tolist()) <= set(c.tolist()) for o, c in zip(obj_digits, q.inputs["answer"]))
    # the names are the objects' digits, listed in another order, each placed under its object
    for i in range(len(q)):
        for j in range(3):
            tok, box = int(d["text_tokens"][i, j]), d["text_boxes"][i, j]
            o = (obj_digits[i] == tok).nonzero().item()
            ob = d["obj_boxes"][i, o]
            assert box[0] == pytest.approx(ob[0]) and box[1] > ob[3]
    assert (q.inputs["image"][:, :, 12:, :] == 0).all() and (q.inputs["image"][:, :, :12, 1:] > 0).all()
    assert (d["obj_boxes"] >= 0).all() and (d["obj_boxes"] <= 1).all()


def test_images_are_disjoint_between_types_splits_and_the_object_pool(questions):
    def ids(x):
        return set(x[:, 0, 27, 27].long().tolist())

    train_ids = [ids(questions.train[t].inputs["image"]) | ids(questions.val[t].inputs["image"]) for t in
                 ("tf", "mc")]
    train_ids.append(ids(questions.train["diagram"].diagram["obj_images"].reshape(-1, 1, 28, 28)))
    assert sum(len(s) for s in train_ids) == len(set().union(*train_ids))
    assert not ids(questions.train["tf"].inputs["image"]) & ids(questions.val["tf"].inputs["image"])


def test_same_seed_same_questions_other_seed_other_questions():
    src = {"mnist": (_fake(600, 0, "train"), _fake(300, 1, "test"))}
    a = build_digit_questions(N_TRAIN, N_VAL, N_TEST, pool=(100, 50), seed=1, sources=src)
    b = build_digit_questions(N_TRAIN, N_VAL, N_TEST, pool=(100, 50), seed=1, sources=src)
    c = build_digit_questions(N_TRAIN, N_VAL, N_TEST, pool=(100, 50), seed=2, sources=src)
    assert torch.equal(a.train["diagram"].diagram["obj_images"], b.train["diagram"].diagram["obj_images"])
    assert not torch.equal(a.train["mc"].inputs["answer"], c.train["mc"].inputs["answer"])


def test_bad_arguments():
    src = {"mnist": (_fake(600, 0, "train"), _fake(300, 1, "test"))}
    with pytest.raises(ValueError, match="positive count"):
        build_digit_questions({"tf": 1}, N_VAL, N_TEST, sources=src)
    x, y = torch.rand(5, 1, 28, 28), torch.arange(5)
    pool = (torch.rand(20, 1, 28, 28), torch.arange(20) % 10)
    with pytest.raises(ValueError, match="n_objects"):
        make_diagram(x, y, pool, k=4, n_objects=5, keep_rows=12, gen=torch.Generator())
    with pytest.raises(ValueError, match="keep_rows"):
        make_diagram(x, y, pool, k=4, n_objects=3, keep_rows=0, gen=torch.Generator())
    with pytest.raises(ValueError, match="every digit"):
        make_diagram(x, y, (pool[0], torch.zeros(20, dtype=torch.long)), k=4, n_objects=3, keep_rows=12,
                     gen=torch.Generator())


def test_real_mnist_questions(data_root):
    q = build_digit_questions({"tf": 30, "mc": 30, "diagram": 30}, {"tf": 5, "mc": 5, "diagram": 5},
                              {"tf": 10, "mc": 10, "diagram": 10}, pool=(100, 50), root=data_root)
    assert q.train["diagram"].diagram["obj_images"].shape == (30, 3, 1, 28, 28)
    assert 0.0 <= float(q.test["mc"].inputs["image"].min()) and float(q.test["mc"].inputs["image"].max()) <= 1.0


# ---------------------------------------------------------------- the chapter's claims


def _results(values):
    runs = {name: [{"test": {"all": v, "tf": v, "mc": v, "diagram": v}} for v in vs] for name, vs in values.items()}
    return {"runs": runs}


def test_claims_hold_outside_and_are_inconclusive_inside_the_seed_spread():
    from mtlnotes.experiments.mhtqa import QUICK, claims

    clear = _results({"mql_all": [0.80, 0.81, 0.82], "rrbs_all": [0.70, 0.715, 0.72],
                      "independent": [0.75, 0.76, 0.77]})
    by = {c.claim: c for c in claims(clear, QUICK)}
    assert by["MQL_all beats RRBS_all on All"].holds is True
    assert by["MQL_all (joint) beats Independent on Text T/F"].holds is True
    assert by["Independent beats MQL_all (joint) on Diagram"].holds is False
    assert by["MQL_all beats RRBS_all on All"].paper == "63.04 vs 62.48"
    noisy = _results({"mql_all": [0.80, 0.70, 0.75], "rrbs_all": [0.72, 0.78, 0.74],
                      "independent": [0.75, 0.76, 0.77]})
    c = {c.claim: c for c in claims(noisy, QUICK)}["MQL_all beats RRBS_all on All"]
    assert c.holds is None and c.note.startswith("inconclusive")
    assert not any("MQL_text" in c.claim for c in claims(clear, QUICK))  # strategies not run are not claimed
