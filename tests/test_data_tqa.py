"""The TQA reader (official JSON layout) and the TQA path of MHTQA end to end, on fixtures made here."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mtlnotes.data.cache import DataMissingError
from mtlnotes.data.tqa import TQAFormatError, load_diagram_features, load_tqa, read_tqa_json, split_sentences
from mtlnotes.qa.tqa_pipeline import WordTokenizer, build_retriever, encode_tqa_questions

pytestmark = pytest.mark.usefixtures("one_thread")


def _choice(letter, text):
    return {"idStructural": f"{letter}.", "processedText": text, "rawText": text}


def _q(qid, kind, asked, choices, correct, image=None):
    q = {"globalID": qid, "idStructural": "1.", "questionType": kind, "questionSubType": "",
         "beingAsked": {"processedText": asked, "rawText": asked},
         "answerChoices": {k: _choice(k, v) for k, v in choices.items()},
         "correctAnswer": {"processedText": correct, "rawText": correct}}
    if image:
        q.update({"imagePath": f"question_images/{image}", "imageName": image})
    return q


def _lesson(i):
    """A lesson in TQA's official layout, with 2 T/F, 2 MC (one with 3 choices) and 2 diagram questions."""
    lid = f"L_{i:04d}"
    text = ("Plants make glucose by photosynthesis. Photosynthesis takes place in the chloroplast. "
            "The first stage needs light. Glucose is a simple sugar! Water enters through the roots.")
    return {
        "globalID": lid, "lessonName": f"photosynthesis {i}", "metaLessonID": "", "adjunctTopics": {},
        "instructionalDiagrams": {},
        "topics": {"What Is Photosynthesis": {"globalID": f"T_{i}a", "topicName": "What Is Photosynthesis",
                                              "content": {"text": text, "figures": [], "mediaLinks": []}},
                   "Roots": {"globalID": f"T_{i}b", "topicName": "Roots",
                             "content": {"text": "Roots take up water. Leaves take up carbon dioxide.",
                                         "figures": [], "mediaLinks": []}}},
        "questions": {
            "nonDiagramQuestions": {
                f"NDQ_{i}01": _q(f"NDQ_{i}01", "True or False", "glucose is a simple sugar.",
                                 {"a": "true", "b": "false"}, "a"),
                f"NDQ_{i}02": _q(f"NDQ_{i}02", "True or False", "photosynthesis takes place in the roots.",
                                 {"a": "true", "b": "false"}, "b"),
                f"NDQ_{i}03": _q(f"NDQ_{i}03", "Multiple Choice", "the first stage of photosynthesis needs",
                                 {"a": "light", "b": "sugar", "c": "roots", "d": "none of the above"}, "a"),
                f"NDQ_{i}04": _q(f"NDQ_{i}04", "Multiple Choice", "what enters through the roots",
                                 {"a": "glucose", "b": "water", "c": "light"}, "b"),
                f"NDQ_{i}05": _q(f"NDQ_{i}05", "Matching", "match", {"a": "x", "b": "y"}, "a"),
            },
            "diagramQuestions": {
                f"DQ_{i}01": _q(f"DQ_{i}01", "Diagram Multiple Choice", "which gas enters the leaf?",
                                {"a": "carbon dioxide", "b": "oxygen", "c": "glucose", "d": "light"}, "a",
                                f"leaf_{i}.png"),
                f"DQ_{i}02": _q(f"DQ_{i}02", "Diagram Multiple Choice", "what do roots take up?",
                                {"a": "light", "b": "water", "c": "glucose", "d": "sugar"}, "b",
                                f"root_{i}.png"),
            },
        },
    }


def _write_tqa(root, n_train=3, n_val=2):
    base = root / "tqa"
    for split, lessons in (("train", range(n_train)), ("val", range(100, 100 + n_val))):
        (base / split).mkdir(parents=True, exist_ok=True)
        (base / split / f"tqa_v1_{split}.json").write_text(json.dumps([_lesson(i) for i in lessons]))
    feats = base / "diagram_features"
    feats.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in list(range(n_train)) + list(range(100, 100 + n_val)):
        for name, n_o, n_t in ((f"leaf_{i}.png", 4, 3), (f"root_{i}.png", 2, 5)):
            np.savez(feats / f"{name}.npz", obj_feats=rng.normal(size=(n_o, 6)), obj_boxes=rng.random((n_o, 4)),
                     text_feats=rng.normal(size=(n_t, 5)), text_boxes=rng.random((n_t, 4)))
    return root


def test_reader_parses_the_official_layout(tmp_path):
    _write_tqa(tmp_path)
    lessons = load_tqa("train", tmp_path)
    assert [les.lesson_id for les in lessons] == ["L_0000", "L_0001", "L_0002"]
    les = lessons[0]
    assert len(les.sentences) == 7 and les.sentences[3] == "Glucose is a simple sugar!"
    kinds = [q.kind for q in les.questions]
    assert kinds == ["tf", "tf", "mc", "mc", "diagram", "diagram"]  # "Matching" is left out
    tf1, tf2, mc1, mc2, d1, _ = les.questions
    assert (tf1.truth, tf2.truth) == (1, 0)
    assert mc1.choices == ("light", "sugar", "roots", "none of the above") and mc1.answer == 0
    assert mc2.answer == 1 and len(mc2.choices) == 3
    assert d1.image == "leaf_0.png" and d1.answer == 0
    with pytest.raises(ValueError, match="not a true/false"):
        mc1.truth


def test_reader_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(DataMissingError, match="allenai.org"):
        load_tqa("train", tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_tqa("dev", tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lessons": []}))
    with pytest.raises(TQAFormatError, match="list of lessons"):
        read_tqa_json(bad)
    lesson = _lesson(0)
    del lesson["questions"]["nonDiagramQuestions"]
    bad.write_text(json.dumps([lesson]))
    with pytest.raises(TQAFormatError, match="nonDiagramQuestions"):
        read_tqa_json(bad)
    bad.write_text("[{")
    with pytest.raises(TQAFormatError, match="not valid JSON"):
        read_tqa_json(bad)
    with pytest.raises(DataMissingError, match="diagram features"):
        load_diagram_features("nope.png", tmp_path)


def test_split_sentences():
    assert split_sentences("A b. C d? E!  F") == ["A b.", "C d?", "E!", "F"]


def test_encoding_retrieves_per_candidate_and_pads_choices_and_diagrams(tmp_path):
    _write_tqa(tmp_path, n_train=2)
    lessons = load_tqa("train", tmp_path)
    tok = WordTokenizer([s for les in lessons for s in les.sentences], max_len=40)
    sets = encode_tqa_questions(lessons, tok, retriever=build_retriever(lessons), max_choices=4,
                                diagram_features=lambda name: load_diagram_features(name, tmp_path),
                                max_objects=3, max_texts=4)
    assert {k: len(v) for k, v in sets.items()} == {"tf": 4, "mc": 4, "diagram": 4}
    mc = sets["mc"]
    assert mc.inputs["input_ids"].shape == (4, 4, 40)
    assert mc.choice_mask[1].tolist() == [True, True, True, False]  # 3 choices, padded to 4
    assert mc.labels.tolist() == [0, 1, 0, 1]
    # candidate "light": the passage holds the one sentence with "light" of that lesson (§3.2 overlap rule)
    ids = mc.inputs["input_ids"][0, 0]
    words = {i: w for w, i in tok.index.items()}
    text = " ".join(words[int(i)] for i in ids if int(i) > 0)
    assert text.startswith("[CLS] the first stage needs light . [SEP]")
    dg = sets["diagram"]
    assert dg.diagram["obj_feats"].shape == (4, 3, 6) and dg.diagram["text_feats"].shape == (4, 4, 5)
    assert dg.diagram["obj_mask"][0].tolist() == [True, True, True]  # 4 objects truncated to 3
    assert dg.diagram["text_mask"][0].tolist() == [True, True, True, False]
    assert sets["tf"].labels.tolist() == [1, 0, 1, 0]


def test_word_tokenizer_truncates_the_passage_first():
    tok = WordTokenizer(["a b c d e f g"], max_len=8)
    out = tok(["a b c d e f g"], ["g f"])
    assert out["input_ids"].shape == (1, 8)
    ids = out["input_ids"][0].tolist()
    assert ids[0] == 2 and ids[-1] == 3 and ids.count(3) == 2
    assert ids[-3:-1] == [tok.index["g"], tok.index["f"]]  # the question side is kept whole


def test_tqa_path_runs_end_to_end_on_fixtures(tmp_path):
    from mtlnotes.experiments import mhtqa

    _write_tqa(tmp_path)
    config = dataclasses.replace(mhtqa.PAPER, profile="fixture", encoder="scratch", hidden=16, max_len=48,
                                 lr=1e-3, epochs=2, seeds=(0, 1), data_root=str(tmp_path),
                                 strategies=("independent", "rrbs_all", "mql_all"))
    results = mhtqa.run(config)
    assert results["sizes"]["train"] == {"tf": 6, "mc": 6, "diagram": 6}
    assert results["mql_ratios"] == {"tf": 1, "mc": 3, "diagram": 3}  # batches 1, 3, 3 with sizes 8, 2, 2
    for name in config.strategies:
        for r in results["runs"][name]:
            assert set(r["test"]) == {"tf", "mc", "diagram", "all"}
            assert all(0.0 <= v <= 1.0 for v in r["test"].values())
    cl = mhtqa.claims(results, config)
    assert len(cl) == 8 and all(c.profile == "fixture" for c in cl)


def test_paper_profile_without_tqa_fails_with_a_clear_message(tmp_path):
    from mtlnotes.experiments import mhtqa

    with pytest.raises(DataMissingError, match="tqa_v1_train.json"):
        mhtqa.run(dataclasses.replace(mhtqa.PAPER, data_root=str(tmp_path)))


def test_fixture_model_gets_gradients_through_every_head(tmp_path):
    from mtlnotes.qa.encoders import TokenTransformerEncoder
    from mtlnotes.qa.model import FeatureDiagramInputs, MultiHeadQA, question_loss

    _write_tqa(tmp_path, n_train=1)
    lessons = load_tqa("train", tmp_path)
    tok = WordTokenizer([s for les in lessons for s in les.sentences], max_len=32)
    sets = encode_tqa_questions(lessons, tok, retriever=build_retriever(lessons), max_choices=4,
                                diagram_features=lambda name: load_diagram_features(name, tmp_path))
    torch.manual_seed(0)
    model = MultiHeadQA(TokenTransformerEncoder(len(tok), 16, n_layers=1, n_heads=2, max_len=32),
                        FeatureDiagramInputs(6, 5, 16), 16, max_choices=4, n_cdf_layers=2)
    loss = sum(question_loss(model, q) for q in sets.values())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
