"""CEAC, the Chinese Emotion Action Corpus (Liu et al., arXiv:1903.06901), as used by BERT-MRC-MTL.

Qian, Li and Tang (ICANN 2021, §4.1) extract emotion **causes** and **experiencers** from CEAC's news
passages. The official file ``3000s.txt`` (github.com/liupengyuan/EmotionAction_EmotionInference) holds one
passage per line with inline tags::

    <cause id=1 type=v>...</cause>  <experiencer>...</experiencer>  <keyword>...</keyword>  <action id=1>...</action>

Tags of different kinds may overlap without nesting (``<experiencer>人<keyword></experiencer>悲痛</keyword>``),
so the reader tracks each kind separately and records character offsets in the untagged text. The misspelt
``<keyord>`` of 13 lines is read as ``<keyword>``. The paper's filtering (§4.1): passages without a cause or
an experiencer are deleted. Its splits: a random 90/10 train/test split, repeated 10 times (:func:`ceac_splits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtlnotes.data.cache import RemoteFile, fetch

__all__ = ["CEAC_FILE", "Passage", "CEACFormatError", "parse_line", "read_ceac", "load_ceac", "ceac_statistics",
           "ceac_splits"]

CEAC_FILE = RemoteFile(
    "emotion_cause/ceac", "3000s.txt",
    ("https://raw.githubusercontent.com/liupengyuan/EmotionAction_EmotionInference/"
     "25ef211c8daf409598e308f7061ed59de8f3fcf6/3000s.txt",),
    md5="4e4d8ee491a722c7e9eefb0592728993",
    sha256="2995ec10786e3dda41cfc55f4df1dcde0aab5f8897eb035fe643ebf2af9ed36c", size=1043933,
    how_to_get="CEAC (Liu et al., arXiv:1903.06901), file 3000s.txt of github.com/liupengyuan/"
               "EmotionAction_EmotionInference; no licence file, public for research, cite the arXiv paper.")

Span = tuple[int, int]  # (start, end) character offsets in the untagged text, end inclusive

_TAG = re.compile(r"<(/?)([A-Za-z]+)([^<>]*)>")
_KINDS = {"cause": "cause", "experiencer": "experiencer", "keyword": "keyword", "keyord": "keyword",
          "action": "action"}


class CEACFormatError(ValueError):
    """A line of a CEAC file does not follow the tag format."""


@dataclass(frozen=True)
class Passage:
    """One CEAC passage: untagged ``text`` and inclusive character spans per element.

    ``cause_ids`` gives the ``id`` attribute of each cause span (one cause may be split into several spans
    with the same id); ``line`` is the 1-based line number in the file.
    """

    text: str
    causes: tuple[Span, ...]
    experiencers: tuple[Span, ...]
    keywords: tuple[Span, ...] = ()
    actions: tuple[Span, ...] = ()
    cause_ids: tuple[int, ...] = ()
    line: int = 0

    def phrases(self, kind: str) -> list[str]:
        """The text of each span of ``kind`` ("causes", "experiencers", "keywords", "actions")."""
        return [self.text[s:e + 1] for s, e in getattr(self, kind)]


def parse_line(line: str, line_no: int = 0) -> Passage:
    """Parse one tagged line into a :class:`Passage`; malformed tags raise :class:`CEACFormatError`."""
    where = f"line {line_no}: " if line_no else ""
    text: list[str] = []
    open_at: dict[str, tuple[int, dict]] = {}
    found: dict[str, list[tuple[Span, dict]]] = {k: [] for k in ("cause", "experiencer", "keyword", "action")}
    pos = 0
    for m in _TAG.finditer(line):
        text.append(line[pos:m.start()])
        pos = m.end()
        closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
        kind = _KINDS.get(name)
        if kind is None:
            raise CEACFormatError(f"{where}unknown tag {m.group(0)!r}; expected one of <cause id=N type=v|n>, "
                                  f"<experiencer>, <keyword>, <action id=N> and their closing tags")
        here = sum(len(t) for t in text)
        if closing:
            if kind not in open_at:
                raise CEACFormatError(f"{where}{m.group(0)!r} at column {m.start()} closes a <{kind}> that is not open")
            start, info = open_at.pop(kind)
            if here == start:
                raise CEACFormatError(f"{where}empty <{kind}> span at column {m.start()}")
            found[kind].append(((start, here - 1), info))
        else:
            if kind in open_at:
                raise CEACFormatError(f"{where}<{kind}> opened at column {m.start()} while another <{kind}> is open")
            info = dict(re.findall(r"(\w+)=(\w+)", attrs))
            if kind == "cause" and not info.get("id", "").isdigit():
                raise CEACFormatError(f"{where}{m.group(0)!r} at column {m.start()}: expected <cause id=N type=v|n>")
            open_at[kind] = (here, info)
    text.append(line[pos:])
    if open_at:
        raise CEACFormatError(f"{where}<{next(iter(open_at))}> is never closed")
    plain = "".join(text)
    if "<" in plain and re.search(r"</?\w", plain):
        raise CEACFormatError(f"{where}a stray '<' that is not a well-formed tag")
    by = lambda k: tuple(sorted(s for s, _ in found[k]))  # noqa: E731
    causes = sorted(found["cause"], key=lambda t: t[0])
    return Passage(plain, tuple(s for s, _ in causes), by("experiencer"), by("keyword"), by("action"),
                   tuple(int(i["id"]) for _, i in causes), line_no)


def read_ceac(path: str | Path, *, require_cause_and_experiencer: bool = True) -> list[Passage]:
    """Read a CEAC file (UTF-8, one passage per line, CRLF or LF).

    With ``require_cause_and_experiencer`` (the paper's filtering, §4.1) passages lacking a cause or an
    experiencer are dropped. Empty lines are skipped.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CEACFormatError(f"{path} is not UTF-8 text ({exc}); expected the CEAC 3000s.txt format") from None
    out = []
    for i, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        p = parse_line(line.rstrip("\r"), i)
        if require_cause_and_experiencer and not (p.causes and p.experiencers):
            continue
        out.append(p)
    return out


def load_ceac(root: str | Path | None = None, *, download: bool = False,
              require_cause_and_experiencer: bool = True) -> list[Passage]:
    """The verified official ``3000s.txt`` (sha256 checked), read with :func:`read_ceac`."""
    return read_ceac(fetch(CEAC_FILE, root, download=download),
                     require_cause_and_experiencer=require_cause_and_experiencer)


def ceac_statistics(passages: list[Passage]) -> dict:
    """The rows of the paper's Table 1 for ``passages``.

    "Multiple causes" counts passages with more than one cause *id* (a cause split into two spans is one
    cause); lengths are in characters of the untagged text.
    """
    if not passages:
        raise ValueError("no passages")
    cause_len = [e - s + 1 for p in passages for s, e in p.causes]
    exp_len = [e - s + 1 for p in passages for s, e in p.experiencers]
    return {
        "instances": len(passages),
        "multiple_causes": sum(len(set(p.cause_ids)) > 1 for p in passages),
        "multiple_experiencers": sum(len(p.experiencers) > 1 for p in passages),
        "avg_text_length": float(np.mean([len(p.text) for p in passages])),
        "avg_cause_length": float(np.mean(cause_len)) if cause_len else float("nan"),
        "avg_experiencer_length": float(np.mean(exp_len)) if exp_len else float("nan"),
    }


def ceac_splits(n: int, repeats: int = 10, test_fraction: float = 0.1,
                seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` random train/test splits of ``range(n)`` (§4.1: 90% train, 10% test, repeated 10 times).

    Split ``r`` is a permutation drawn from ``numpy.random.default_rng([seed, r])``: deterministic, and
    the first splits do not change when ``repeats`` grows.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 passages to split, got {n}")
    n_test = max(1, round(n * test_fraction))
    out = []
    for r in range(repeats):
        perm = np.random.default_rng([seed, r]).permutation(n)
        out.append((np.sort(perm[n_test:]), np.sort(perm[:n_test])))
    return out
