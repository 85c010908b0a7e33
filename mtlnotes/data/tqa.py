"""Reader for the Textbook Question Answering dataset (TQA; Kembhavi et al., CVPR 2017) in its official layout.

AI2 distributes TQA as ``tqa_train_val_test.zip`` (with the images); unpacked under ``$MTLNOTES_DATA/tqa/`` it
holds ``train/tqa_v1_train.json``, ``val/tqa_v1_val.json`` and ``test/tqa_v2_test.json``. Each file is a JSON
list of lessons::

    {"globalID": "L_0002", "lessonName": "...",
     "topics": {"<name>": {"globalID": "T_...", "topicName": "...", "content": {"text": "...", ...}}, ...},
     "questions": {
        "nonDiagramQuestions": {"NDQ_000001": {"questionType": "True or False" | "Multiple Choice" | ...,
            "beingAsked": {"processedText": "...", "rawText": "..."},
            "answerChoices": {"a": {"idStructural": "a.", "processedText": "...", "rawText": "..."}, ...},
            "correctAnswer": {"processedText": "a", "rawText": "..."}, "globalID": "NDQ_000001", ...}, ...},
        "diagramQuestions": {"DQ_000001": {... the same fields ..., "questionType": "Diagram Multiple Choice",
            "imagePath": "question_images/....png", "imageName": "....png"}, ...}}, ...}

No checksum is published for the files, so they are checked for this structure instead. Diagram features (the
paper's detected objects and recognised texts, §3.4) are not part of TQA; :func:`load_diagram_features` reads
them from ``$MTLNOTES_DATA/tqa/diagram_features/<imageName>.npz`` with arrays ``obj_feats`` (N_o, d_o),
``obj_boxes`` (N_o, 4), ``text_feats`` (N_t, d_t), ``text_boxes`` (N_t, 4), boxes in [0, 1].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import DataError, DataMissingError, cache_dir

__all__ = ["TQAQuestion", "TQALesson", "TQA_FILES", "TQAFormatError", "read_tqa_json", "load_tqa",
           "load_diagram_features", "split_sentences"]

TQA_FILES = {"train": "train/tqa_v1_train.json", "val": "val/tqa_v1_val.json", "test": "test/tqa_v2_test.json"}
_HOW = ("download tqa_train_val_test.zip from https://allenai.org/data/tqa (AI2 Textbook Question Answering) and "
        "unpack it into $MTLNOTES_DATA/tqa/")
_KINDS = {"True or False": "tf", "Multiple Choice": "mc", "Diagram Multiple Choice": "diagram"}


class TQAFormatError(DataError, ValueError):
    """A TQA file does not have the official layout."""


@dataclass(frozen=True)
class TQAQuestion:
    """One question: ``kind`` "tf", "mc" or "diagram"; ``choices`` in the order of their letters;
    ``answer`` the index of the correct choice (for "tf", choices are ("true", "false") as in TQA, and
    ``truth`` is 1 when the statement is true); ``image`` the diagram's imageName (diagram questions)."""

    qid: str
    lesson_id: str
    kind: str
    question: str
    choices: tuple[str, ...]
    answer: int
    image: str | None = None

    @property
    def truth(self) -> int:
        if self.kind != "tf":
            raise ValueError(f"question {self.qid} is not a true/false question")
        return int(self.choices[self.answer].strip().lower() == "true")


@dataclass(frozen=True)
class TQALesson:
    lesson_id: str
    name: str
    sentences: tuple[str, ...]
    questions: tuple[TQAQuestion, ...]


_SENT = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a topic text (split after . ! ? followed by white space)."""
    return [s.strip() for s in _SENT.split(text) if s.strip()]


def _req(d: dict, key: str, where: str, path: Path):
    if not isinstance(d, dict) or key not in d:
        raise TQAFormatError(f"{path}: {where} lacks the field {key!r} of the official TQA layout ({_HOW})")
    return d[key]


def _question(qid: str, q: dict, lesson_id: str, path: Path) -> TQAQuestion | None:
    kind = _KINDS.get(_req(q, "questionType", f"question {qid}", path))
    if kind is None:  # e.g. "Matching" questions, which MHTQA does not answer
        return None
    letters = sorted(_req(q, "answerChoices", f"question {qid}", path))
    choices = tuple(str(q["answerChoices"][c].get("processedText", "")).strip() for c in letters)
    correct = str(_req(_req(q, "correctAnswer", f"question {qid}", path), "processedText", f"question {qid}",
                       path)).strip().lower().rstrip(".")
    if correct in letters:
        answer = letters.index(correct)
    elif correct in [c.lower() for c in choices]:
        answer = [c.lower() for c in choices].index(correct)
    else:
        return None  # the answer key names no choice (happens in TQA); such questions cannot be scored
    text = str(_req(_req(q, "beingAsked", f"question {qid}", path), "processedText", f"question {qid}", path))
    image = q.get("imageName") if kind == "diagram" else None
    if kind == "diagram" and not image:
        raise TQAFormatError(f"{path}: diagram question {qid} has no imageName")
    return TQAQuestion(qid, lesson_id, kind, text, choices, answer, image)


def read_tqa_json(path: str | Path) -> list[TQALesson]:
    """Lessons with their sentences and the T/F, MC and diagram questions of one official TQA JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TQAFormatError(f"{path} is not valid JSON ({exc}); expected a TQA file ({_HOW})") from None
    if not isinstance(data, list):
        raise TQAFormatError(f"{path}: expected a JSON list of lessons, got {type(data).__name__} ({_HOW})")
    lessons = []
    for i, lesson in enumerate(data):
        lid = _req(lesson, "globalID", f"lesson #{i}", path)
        sentences: list[str] = []
        for topic in _req(lesson, "topics", f"lesson {lid}", path).values():
            sentences += split_sentences(str(_req(_req(topic, "content", f"a topic of {lid}", path), "text",
                                                  f"a topic of {lid}", path)))
        qs = _req(lesson, "questions", f"lesson {lid}", path)
        questions = []
        for group in ("nonDiagramQuestions", "diagramQuestions"):
            for qid, q in _req(qs, group, f"lesson {lid}", path).items():
                parsed = _question(qid, q, lid, path)
                if parsed is not None:
                    questions.append(parsed)
        lessons.append(TQALesson(lid, str(lesson.get("lessonName", "")), tuple(sentences), tuple(questions)))
    return lessons


def load_tqa(split: str, root=None) -> list[TQALesson]:
    """The official ``split`` ("train", "val" or "test") from ``<root or $MTLNOTES_DATA>/tqa/``."""
    if split not in TQA_FILES:
        raise ValueError(f"split must be one of {sorted(TQA_FILES)}, got {split!r}")
    path = cache_dir(root) / "tqa" / TQA_FILES[split]
    if not path.exists():
        raise DataMissingError(f"TQA file {path} not found: {_HOW}")
    return read_tqa_json(path)


def load_diagram_features(image: str, root=None) -> dict[str, np.ndarray]:
    """Precomputed object/text features of one diagram (see the module docstring for the layout)."""
    path = cache_dir(root) / "tqa" / "diagram_features" / f"{image}.npz"
    if not path.exists():
        raise DataMissingError(f"diagram features {path} not found: run an object detector and OCR over TQA's "
                               f"question_images (the paper: Faster R-CNN, CRAFT + STAR-net, §3.4) and save "
                               f"obj_feats, obj_boxes, text_feats, text_boxes per image")
    with np.load(path) as z:
        out = {k: np.asarray(z[k], dtype=np.float32) for k in ("obj_feats", "obj_boxes", "text_feats", "text_boxes")
               if k in z}
    missing = {"obj_feats", "obj_boxes", "text_feats", "text_boxes"} - set(out)
    if missing:
        raise TQAFormatError(f"{path} lacks arrays {sorted(missing)}")
    for kind in ("obj", "text"):
        if out[f"{kind}_boxes"].shape != (len(out[f"{kind}_feats"]), 4):
            raise TQAFormatError(f"{path}: {kind}_boxes must be ({len(out[f'{kind}_feats'])}, 4), "
                                 f"got {out[f'{kind}_boxes'].shape}")
    return out
