"""GLUE (Wang et al., 2019) from the official task archives, in their TSV formats, and the GLUE metrics.

Files live in ``<cache>/glue/``: the archives the GLUE download script fetches (``CoLA.zip``, ``SST-2.zip``,
``QQP.zip``, ``STS-B.zip``, ``MNLI.zip``, ``QNLIv2.zip``, ``RTE.zip``) and, for MRPC, the SentEval copies
of the Microsoft Research Paraphrase Corpus (``msr_paraphrase_train.txt``) plus GLUE's ``mrpc_dev_ids.tsv``,
from which the GLUE script builds MRPC's train/dev split. Checksums (sha256 and size) are those recorded in
TensorFlow Datasets' ``url_checksums/glue.txt``. Nothing is downloaded unless ``download=True``.

Formats (columns are found by header name; GLUE's TSVs contain stray quotes, so no quote handling):

* CoLA: no header; columns source, label (0/1), original mark, sentence.
* SST-2: ``sentence, label``. RTE, QNLI: ``index, sentence1|question, sentence2|sentence, label``
  (entailment / not_entailment). MNLI: ``... sentence1, sentence2, ..., gold_label``
  (contradiction / entailment / neutral); the dev split is ``dev_matched``. QQP: ``id, qid1, qid2, question1,
  question2, is_duplicate``. STS-B: ``..., sentence1, sentence2, score`` (a float in [0, 5]).
  MRPC: ``Quality, #1 ID, #2 ID, #1 String, #2 String``.

Scores follow the paper (Glover & Hokamp, 2019, Table 1): the task score is the mean of the task's metrics,
× 100 — CoLA: Matthews correlation; MRPC, QQP: accuracy and F1; STS-B: Pearson and Spearman correlation;
others: accuracy.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import RemoteFile, fetch

__all__ = ["GlueTask", "GLUE_TASKS", "GLUE_FILES", "GlueExamples", "parse_glue_tsv", "load_glue", "glue_score",
           "GlueFormatError"]

_FB = "https://dl.fbaipublicfiles.com/glue/data/"
_SENTEVAL = "https://dl.fbaipublicfiles.com/senteval/senteval_data/"
_HOW = ("GLUE: get the task archives with the GLUE benchmark's download_glue_data.py (gluebenchmark.com/tasks) "
        "and place the .zip files (not extracted) in <cache>/glue/.")
_FIREBASE = "https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/data%2F"


def _rf(name: str, size: int, sha256: str, urls: tuple[str, ...]) -> RemoteFile:
    return RemoteFile("glue", name, urls, sha256=sha256, size=size, how_to_get=_HOW,
                      citation="Wang et al. (2019), GLUE")


GLUE_FILES: dict[str, RemoteFile] = {
    "CoLA.zip": _rf("CoLA.zip", 376971, "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff",
                    (_FB + "CoLA.zip",)),
    "SST-2.zip": _rf("SST-2.zip", 7439277, "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
                     (_FB + "SST-2.zip",)),
    "QQP.zip": _rf("QQP.zip", 60534884, "67cb8f5fe66c90a0bc1bf5792e3924f63008b064ab7a473736c919d20bb140ad",
                   (_FIREBASE + "QQP.zip?alt=media",)),
    "STS-B.zip": _rf("STS-B.zip", 802872, "e60a6393de5a8b5b9bac5020a1554b54e3691f9d600b775bd131e613ac179c85",
                     (_FB + "STS-B.zip",)),
    "MNLI.zip": _rf("MNLI.zip", 312783507, "e7c1d896d26ed6caf700110645df426cc2d8ebf02a5ab743d5a5c68ac1c83633",
                    (_FB + "MNLI.zip",)),
    "QNLIv2.zip": _rf("QNLIv2.zip", 10627589, "e634e78627a29adaecd4f955359b22bf5e70f2cbd93b493f2d624138a0c0e5f5",
                      (_FB + "QNLIv2.zip",)),
    "RTE.zip": _rf("RTE.zip", 697150, "6bf86de103ecd335f3441bd43574d23fef87ecc695977a63b82d5efb206556ee",
                   (_FB + "RTE.zip",)),
    "msr_paraphrase_train.txt": _rf("msr_paraphrase_train.txt", 1047044,
                                    "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
                                    (_SENTEVAL + "msr_paraphrase_train.txt",)),
    "mrpc_dev_ids.tsv": _rf("mrpc_dev_ids.tsv", 6222, "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
                            (_FIREBASE + "mrpc_dev_ids.tsv?alt=media",)),
}


class GlueFormatError(ValueError):
    """A GLUE file does not have the official layout."""


@dataclass(frozen=True)
class GlueTask:
    """How to read one task: archive, text columns (by header name; CoLA by position), label column and
    label names (empty for the STS-B regression), dev split file, metrics."""

    name: str
    archive: str
    text_a: str
    text_b: str | None
    label: str
    label_names: tuple[str, ...]
    dev_split: str = "dev"
    header: bool = True

    @property
    def n_labels(self) -> int:
        """Output size of the task head: the number of classes, or 1 for regression (STS-B)."""
        return len(self.label_names) or 1

    @property
    def is_regression(self) -> bool:
        return not self.label_names


GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in (
    GlueTask("CoLA", "CoLA.zip", "3", None, "1", ("0", "1"), header=False),
    GlueTask("MNLI", "MNLI.zip", "sentence1", "sentence2", "gold_label", ("contradiction", "entailment", "neutral"),
             dev_split="dev_matched"),
    GlueTask("MRPC", "msr_paraphrase_train.txt", "#1 String", "#2 String", "Quality", ("0", "1")),
    GlueTask("QNLI", "QNLIv2.zip", "question", "sentence", "label", ("entailment", "not_entailment")),
    GlueTask("QQP", "QQP.zip", "question1", "question2", "is_duplicate", ("0", "1")),
    GlueTask("RTE", "RTE.zip", "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
    GlueTask("SST-2", "SST-2.zip", "sentence", None, "label", ("0", "1")),
    GlueTask("STS-B", "STS-B.zip", "sentence1", "sentence2", "score", ()),
)}


@dataclass(frozen=True)
class GlueExamples:
    """``text_a`` (and ``text_b`` for pair tasks) lists of strings; ``labels`` (n,) int64 class ids, or float32
    scores for STS-B; ``ids`` the (#1 ID, #2 ID) pairs for MRPC (used to split train/dev), else None."""

    task: str
    text_a: list[str]
    text_b: list[str] | None
    labels: np.ndarray
    ids: list[tuple[str, str]] | None = None

    def __len__(self) -> int:
        return len(self.text_a)

    def subset(self, keep: np.ndarray) -> "GlueExamples":
        idx = np.flatnonzero(keep)
        return GlueExamples(self.task, [self.text_a[i] for i in idx],
                            None if self.text_b is None else [self.text_b[i] for i in idx], self.labels[idx],
                            None if self.ids is None else [self.ids[i] for i in idx])


def _task(name: str) -> GlueTask:
    if name not in GLUE_TASKS:
        raise ValueError(f"unknown GLUE task {name!r}; expected one of {sorted(GLUE_TASKS)}")
    return GLUE_TASKS[name]


def parse_glue_tsv(task: str, text: str, source: str = "<text>") -> GlueExamples:
    """Parse one GLUE TSV file's ``text`` in ``task``'s official layout.

    Raises :class:`GlueFormatError` naming ``source`` and the line for a missing column, a row with too few
    fields or an unknown label. Rows of a test file (no label column) are rejected: only train/dev have labels.
    """
    spec = _task(task)
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines:
        raise GlueFormatError(f"{source}: empty file")
    if spec.header:
        head = lines[0].lstrip("\ufeff").split("\t")
        col = {}
        for key in (spec.text_a, spec.text_b, spec.label):
            if key is None:
                continue
            if key not in head:
                raise GlueFormatError(f"{source}: column {key!r} missing from header {head} ({task} layout)")
            col[key] = head.index(key)
        rows, first = lines[1:], 2
    else:
        col = {spec.text_a: int(spec.text_a), spec.label: int(spec.label)}
        rows, first = lines, 1
    need = max(col.values()) + 1
    a, b, y, ids = [], [] if spec.text_b else None, [], [] if task == "MRPC" else None
    for i, line in enumerate(rows):
        f = line.split("\t")
        if len(f) < need:
            raise GlueFormatError(f"{source}, line {first + i}: {len(f)} fields, expected at least {need} "
                                  f"({task} layout)")
        raw = f[col[spec.label]].strip()
        if spec.is_regression:
            try:
                y.append(float(raw))
            except ValueError:
                raise GlueFormatError(f"{source}, line {first + i}: score {raw!r} is not a number") from None
        else:
            if raw not in spec.label_names:
                raise GlueFormatError(f"{source}, line {first + i}: label {raw!r} not in {spec.label_names}")
            y.append(spec.label_names.index(raw))
        a.append(f[col[spec.text_a]])
        if b is not None:
            b.append(f[col[spec.text_b]])
        if ids is not None:
            ids.append((f[1], f[2]))
    labels = np.asarray(y, dtype=np.float32 if spec.is_regression else np.int64)
    return GlueExamples(task, a, b, labels, ids)


def _read_member(archive: Path, split: str) -> tuple[str, str]:
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.endswith(f"/{split}.tsv") or n == f"{split}.tsv"]
        if not names:
            raise GlueFormatError(f"{archive.name} has no {split}.tsv (members: {zf.namelist()[:10]})")
        with zf.open(names[0]) as fh:
            return io.TextIOWrapper(fh, encoding="utf-8").read(), f"{archive.name}:{names[0]}"


def load_glue(task: str, split: str = "train", root: str | os.PathLike | None = None,
              download: bool = False) -> GlueExamples:
    """``split`` ("train" or "dev") of a GLUE task from the verified official files in the cache.

    MRPC is built as the GLUE script does: the SentEval training file split by ``mrpc_dev_ids.tsv``.
    Missing or corrupt files raise :class:`mtlnotes.data.DataMissingError` / ``ChecksumError`` naming the
    file, its checksum and where to get it.
    """
    spec = _task(task)
    if split not in ("train", "dev"):
        raise ValueError(f"split must be 'train' or 'dev', got {split!r}")
    if task == "MRPC":
        path = fetch(GLUE_FILES["msr_paraphrase_train.txt"], root, download)
        dev_ids = fetch(GLUE_FILES["mrpc_dev_ids.tsv"], root, download)
        data = parse_glue_tsv("MRPC", path.read_text(encoding="utf-8-sig"), path.name)
        dev = {tuple(ln.strip().split("\t")[:2]) for ln in dev_ids.read_text().splitlines() if ln.strip()}
        in_dev = np.array([pair in dev for pair in data.ids])
        return data.subset(in_dev if split == "dev" else ~in_dev)
    archive = fetch(GLUE_FILES[spec.archive], root, download)
    text, source = _read_member(archive, spec.dev_split if split == "dev" else "train")
    return parse_glue_tsv(task, text, source)


def glue_score(task: str, predictions: np.ndarray, labels: np.ndarray) -> float:
    """The task score of Table 1 (× 100): the mean of the task's GLUE metrics (see module docstring).

    ``predictions``/``labels``: (n,) class ids, or scores for STS-B.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    spec = _task(task)
    p, y = np.asarray(predictions), np.asarray(labels)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ValueError(f"predictions {p.shape} and labels {y.shape} must be equal non-empty 1-D arrays")
    if task == "CoLA":
        s = matthews_corrcoef(y, p)
    elif task in ("MRPC", "QQP"):
        s = (accuracy_score(y, p) + f1_score(y, p)) / 2
    elif task == "STS-B":
        s = (pearsonr(p, y)[0] + spearmanr(p, y)[0]) / 2
    else:
        s = accuracy_score(y, p)
    return float(100 * s)
