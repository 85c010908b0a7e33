"""GLUE test sets (no labels) and submission files, for Table 2 of Glover & Hokamp (2019): the test scores come
from uploading the predictions to the GLUE server (gluebenchmark.com), which alone holds the test labels.

* :func:`load_glue_test` reads a task's official test file: ``test.tsv`` in the task archive (MNLI:
  ``test_matched.tsv`` / ``test_mismatched.tsv``), MRPC from SentEval's ``msr_paraphrase_test.txt`` as the GLUE
  script builds its ``test.tsv`` (row order is the index). Text columns are found by header name.
* :func:`write_glue_submission` writes the files the GLUE server expects: ``<name>.tsv`` with the header
  ``index\tprediction``, labels as the task's label strings (STS-B: a score in [0, 5]).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import RemoteFile, fetch
from mtlnotes.data.glue import _HOW, GLUE_FILES, GLUE_TASKS, GlueFormatError, _read_member, _task

__all__ = ["GLUE_TEST_FILES", "TEST_SPLITS", "SUBMISSION_NAMES", "GlueTestExamples", "parse_glue_test_tsv",
           "load_glue_test", "write_glue_submission"]

#: SentEval's MRPC test file (md5 as published with torchtext's MRPC loader)
GLUE_TEST_FILES: dict[str, RemoteFile] = {
    "msr_paraphrase_test.txt": RemoteFile(
        "glue", "msr_paraphrase_test.txt", ("https://dl.fbaipublicfiles.com/senteval/senteval_data/"
                                            "msr_paraphrase_test.txt",),
        md5="e437fdddb92535b820fe8852e2df8a49", how_to_get=_HOW, citation="Dolan & Brockett (2005), MRPC"),
}

#: the test files of each task (MNLI has a matched and a mismatched one)
TEST_SPLITS: dict[str, tuple[str, ...]] = {t: ("test",) for t in GLUE_TASKS}
TEST_SPLITS["MNLI"] = ("test_matched", "test_mismatched")

#: (task, test split) -> the file name the GLUE server expects
SUBMISSION_NAMES: dict[tuple[str, str], str] = {(t, "test"): f"{t}.tsv" for t in GLUE_TASKS if t != "MNLI"}
SUBMISSION_NAMES.update({("MNLI", "test_matched"): "MNLI-m.tsv", ("MNLI", "test_mismatched"): "MNLI-mm.tsv"})

#: the text columns of the test files where they differ from train/dev (CoLA's train file has no header)
_TEST_TEXT = {"CoLA": ("sentence", None), "MRPC": ("#1 String", "#2 String")}


@dataclass(frozen=True)
class GlueTestExamples:
    """One test file: the GLUE ``index`` of every row (what a submission must repeat), ``text_a`` and, for pair
    tasks, ``text_b``."""

    task: str
    split: str
    index: list[str]
    text_a: list[str]
    text_b: list[str] | None

    def __len__(self) -> int:
        return len(self.index)


def parse_glue_test_tsv(task: str, split: str, text: str, source: str = "<text>") -> GlueTestExamples:
    """Parse a GLUE test file's ``text``: the index column (``index``, ``id`` for QQP; the row number for MRPC)
    and the text columns, by header name; a missing column or a short row is a :class:`GlueFormatError` naming
    ``source`` and the line."""
    spec = _task(task)
    if split not in TEST_SPLITS[task]:
        raise ValueError(f"{task} has test splits {TEST_SPLITS[task]}, not {split!r}")
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines:
        raise GlueFormatError(f"{source}: empty file")
    head = lines[0].lstrip("\ufeff").split("\t")
    a_key, b_key = _TEST_TEXT.get(task, (spec.text_a, spec.text_b))
    keys = [k for k in (a_key, b_key) if k is not None] + ([] if task == "MRPC" else
                                                           ["id" if task == "QQP" else "index"])
    for key in keys:
        if key not in head:
            raise GlueFormatError(f"{source}: column {key!r} missing from header {head} ({task} test layout)")
    col = {k: head.index(k) for k in keys}
    need = max(col.values()) + 1
    index, a, b = [], [], [] if b_key else None
    for i, line in enumerate(lines[1:]):
        f = line.split("\t")
        if len(f) < need:
            raise GlueFormatError(f"{source}, line {i + 2}: {len(f)} fields, expected at least {need} "
                                  f"({task} test layout)")
        index.append(str(i) if task == "MRPC" else f[col["id" if task == "QQP" else "index"]])
        a.append(f[col[a_key]])
        if b is not None:
            b.append(f[col[b_key]])
    return GlueTestExamples(task, split, index, a, b)


def load_glue_test(task: str, split: str = "test", root: str | os.PathLike | None = None,
                   download: bool = False) -> GlueTestExamples:
    """A task's official test file from the verified files in the cache (see the module docstring)."""
    spec = _task(task)
    if task == "MRPC":
        path = fetch(GLUE_TEST_FILES["msr_paraphrase_test.txt"], root, download)
        return parse_glue_test_tsv("MRPC", "test", path.read_text(encoding="utf-8-sig"), path.name)
    if split not in TEST_SPLITS[task]:
        raise ValueError(f"{task} has test splits {TEST_SPLITS[task]}, not {split!r}")
    archive = fetch(GLUE_FILES[spec.archive], root, download)
    text, source = _read_member(archive, split)
    return parse_glue_test_tsv(task, split, text, source)


def write_glue_submission(predictions: dict[tuple[str, str], np.ndarray], examples: dict[tuple[str, str],
                          GlueTestExamples], out_dir: str | os.PathLike) -> list[Path]:
    """Write one GLUE server file per (task, test split): ``index\\tprediction`` rows in the test file's order,
    class ids turned into the task's label strings, STS-B scores clipped to [0, 5]. Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, pred in predictions.items():
        task, split = key
        ex = examples[key]
        pred = np.asarray(pred)
        if pred.shape != (len(ex),):
            raise ValueError(f"{task} {split}: {pred.shape[0] if pred.ndim else 0} predictions for {len(ex)} "
                             "test rows")
        spec = GLUE_TASKS[task]
        if spec.is_regression:
            labels = [f"{float(v):.3f}" for v in np.clip(pred, 0.0, 5.0)]
        else:
            if pred.min() < 0 or pred.max() >= len(spec.label_names):
                raise ValueError(f"{task}: class ids must be in [0, {len(spec.label_names)}), got "
                                 f"[{pred.min()}, {pred.max()}]")
            labels = [spec.label_names[int(v)] for v in pred]
        path = out / SUBMISSION_NAMES[key]
        path.write_text("index\tprediction\n" + "".join(f"{i}\t{y}\n" for i, y in zip(ex.index, labels)),
                        encoding="utf-8")
        paths.append(path)
    return paths
