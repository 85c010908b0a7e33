"""Results files with provenance, and the claims ledger.

A results file is JSON: ``{"chapter", "profile", "provenance": {...}, "config": {...}, "seeds": [...],
"wall_time_s", "results": {...}, "claims": [...]}``. Provenance records what is needed to trust and
rerun a number: package version, git commit (and whether the tree was dirty), device, torch/python
versions, host CPU count, UTC time. A run made with a checkpoint directory also has ``"units"``: how each of
its units was computed (commits, hosts, seconds; possibly earlier, elsewhere), and ``compute_s``, their total.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import mtlnotes
from mtlnotes.numerics import portable_numerics_active
from mtlnotes.repro import device_label

__all__ = ["Claim", "provenance", "to_jsonable", "write_results", "read_results", "load_claims",
           "ledger_rows", "ledger_markdown", "repo_root", "results_dir", "find_results", "find_profiles",
           "largest_profile", "claim_key", "claims_at_largest"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Claim:
    """One claim of a paper next to our measurement.

    ``holds`` is True/False when our number supports/contradicts the claim at ``profile``, and None when
    it cannot be judged (e.g. the paper profile was not run). ``paper`` and ``ours`` are numbers or short
    strings; ``ours`` must come from code, never typed in.
    """

    chapter: str
    claim: str
    paper: float | str | None
    ours: float | str | None
    holds: bool | None
    profile: str
    source: str = ""
    note: str = ""
    inconclusive: bool = False  # holds is None because the seed statistics could not decide (mtlnotes.stats)

    def __post_init__(self) -> None:
        if self.holds not in (True, False, None):
            raise ValueError(f"holds must be True, False or None, got {self.holds!r}")
        if self.inconclusive and self.holds is not None:
            raise ValueError(f"a claim judged {self.holds} cannot be inconclusive: {self.claim!r}")

    @property
    def verdict(self) -> str:
        """"holds", "does not hold", or for ``holds=None``: "inconclusive" when the seed statistics could not
        decide (``inconclusive``, set from :mod:`mtlnotes.stats`), else "not judged" (e.g. a profile too small)."""
        if self.holds is None:
            return "inconclusive" if self.inconclusive else "not judged"
        return "holds" if self.holds else "does not hold"

    def to_dict(self) -> dict:
        return to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "Claim":
        """The claim of a results file. Files written before ``inconclusive`` existed said it in the note; for
        them it is read from there."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in d.items() if k in fields}
        if "inconclusive" not in d and d.get("holds") is None:
            note = str(d.get("note") or "").lower()
            kept["inconclusive"] = "inconclusive" in note and "not judged" not in note
        return cls(**kept)


def repo_root() -> Path | None:
    """The git checkout holding this package, if any."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / ".git").exists() else None


def results_dir() -> Path:
    """Where committed results files live: ``$MTLNOTES_RESULTS`` or ``<repo>/results``."""
    env = os.environ.get("MTLNOTES_RESULTS")
    if env:
        return Path(env)
    root = repo_root()
    return (root if root else Path.cwd()) / "results"


def _git(*args: str) -> str | None:
    root = repo_root()
    if root is None:
        return None
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout the package runs from: tracked files changed means dirty; (None, None)
    outside a git checkout."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "HEAD"), (bool(status) if status is not None else None)


def provenance(device: str | torch.device | None = None) -> dict:
    """Package version, git commit + dirty flag, device (name of the GPU if CUDA), versions, host, UTC time.

    Also the CPU kernel path torch dispatched to and whether the portable numerics of
    :mod:`mtlnotes.numerics` were in force (if not, CPU numbers repeat only on the same kind of CPU).
    """
    dev = device_label(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    commit, dirty = git_state()
    return {
        "package": "mtlnotes",
        "package_version": mtlnotes.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "device": dev,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "portable_numerics": portable_numerics_active(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data from dataclasses, tensors, numpy values, tuples and paths (NaN/inf become None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a results file")


def write_results(path: str | os.PathLike, *, chapter: str, profile: str, config: Any, seeds: Sequence[int],
                  results: dict, claims: Iterable[Claim], wall_time_s: float,
                  device: str | torch.device | None = None, units: dict | None = None) -> Path:
    """Write a results file (JSON, atomically) and return its path. ``units``: how the run's checkpointed units
    were computed (:meth:`mtlnotes.checkpoint.CheckpointStore.records`), for a run assembled from units computed
    earlier, whose cost ``wall_time_s`` (this command's own time) does not include."""
    path = Path(path)
    doc = {
        "schema": SCHEMA_VERSION,
        "chapter": chapter,
        "profile": profile,
        "provenance": provenance(device),
        "config": to_jsonable(config),
        "seeds": list(seeds),
        "wall_time_s": round(float(wall_time_s), 3),
        **({"units": to_jsonable(units)} if units is not None else {}),
        "results": to_jsonable(results),
        "claims": [c.to_dict() for c in claims],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_results(path: str | os.PathLike) -> dict:
    """Read a results file written by :func:`write_results`, with clear errors for anything else."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no results file at {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    missing = {"chapter", "profile", "provenance", "config", "results", "claims"} - set(doc)
    if missing:
        raise ValueError(f"{path} is not an mtlnotes results file (missing {sorted(missing)})")
    doc["claims"] = [Claim.from_dict(c) for c in doc["claims"]]
    return doc


def find_results(chapter: str, profile: str, directory: str | os.PathLike | None = None) -> dict | None:
    """The results file ``<dir>/<chapter>-<profile>.json`` if it exists, else None (chapters say so plainly)."""
    path = Path(directory or results_dir()) / f"{chapter}-{profile}.json"
    return read_results(path) if path.exists() else None


def find_profiles(chapter: str, profiles: Sequence[str], directory: str | os.PathLike | None = None) -> dict[str, dict]:
    """The results files of ``chapter`` for those of ``profiles`` that have one, as {profile: file}, in the order
    given (list profiles in increasing scale: the chapters judge claims at the last one)."""
    found = {p: find_results(chapter, p, directory) for p in profiles}
    return {p: doc for p, doc in found.items() if doc is not None}


def largest_profile(docs: dict[str, dict], having: Callable[[dict], bool] | None = None) -> tuple[str, dict, str]:
    """(profile, results file, one line saying where it was computed) of the last, i.e. largest, profile of
    :func:`find_profiles`'s ``docs``, where a chapter judges its claims. With ``having``, the largest profile whose
    file satisfies it (e.g. the largest one that ran an ablation, when the larger profiles leave it out)."""
    candidates = [p for p, doc in docs.items() if having is None or having(doc)]
    if not candidates:
        raise ValueError("no results file to judge the claims on: run the chapter's command line first"
                         if not docs else "no results file has what was asked for: run a profile that computes it")
    profile = candidates[-1]
    doc = docs[profile]
    prov = doc["provenance"]
    line = (f"claims judged at the largest profile with a results file: {profile} "
            f"(commit {str(prov['git_commit'])[:10]}, {prov['device']}, seeds {doc['seeds']})")
    return profile, doc, line


def claim_key(text: str) -> str:
    """What a claim says, without the description of our measurement: the text before "ours:" (and the " (" or
    "; " leading to it). Profiles may describe their measurement differently (e.g. the task counts of a cost
    measurement), and the claim is still the same one."""
    head = text.split("ours:", 1)[0]
    return head.rstrip(" (;,").strip() if "ours:" in text else text.strip()


def claims_at_largest(docs: dict[str, dict]) -> list[Claim]:
    """Each claim of :func:`find_profiles`'s ``docs`` once, judged at the largest profile whose file judged it.

    A larger profile may run only part of a chapter (some architectures, no sweep), so one file cannot carry every
    verdict. For each claim (matched by :func:`claim_key`), the files are searched from the largest down; the
    first whose verdict is other than "not judged" gives the claim (with its ``profile``), else the largest file
    that states it. The order is the largest file's claims, then those only smaller files state, in their order."""
    if not docs:
        raise ValueError("no results file to judge the claims on: run the chapter's command line first")
    largest_first = [[c if isinstance(c, Claim) else Claim.from_dict(c) for c in doc["claims"]]
                     for doc in reversed(list(docs.values()))]
    order: list[str] = []
    chosen: dict[str, Claim] = {}
    for claims in largest_first:
        for claim in claims:
            key = claim_key(claim.claim)
            if key not in chosen:
                order.append(key)
                chosen[key] = claim
            elif chosen[key].verdict == "not judged" and claim.verdict != "not judged":
                chosen[key] = claim
    return [chosen[key] for key in order]


def load_claims(directory: str | os.PathLike | None = None) -> list[tuple[dict, Claim]]:
    """Every claim of every results file in ``directory`` (default :func:`results_dir`), with its file's header."""
    directory = Path(directory or results_dir())
    out = []
    for path in sorted(directory.glob("*.json")):
        doc = read_results(path)
        head = {"file": path.name, "chapter": doc["chapter"], "profile": doc["profile"],
                "commit": (doc["provenance"].get("git_commit") or "")[:10], "device": doc["provenance"].get("device")}
        out.extend((head, c) for c in doc["claims"])
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def ledger_rows(directory: str | os.PathLike | None = None) -> list[dict]:
    """Flat rows (one per claim) for the ledger table."""
    return [{"chapter": h["chapter"], "profile": h["profile"], "claim": c.claim, "paper": c.paper, "ours": c.ours,
             "verdict": c.verdict, "source": c.source, "file": h["file"], "commit": h["commit"], "device": h["device"]}
            for h, c in load_claims(directory)]


def ledger_markdown(directory: str | os.PathLike | None = None) -> str:
    """The claims ledger as a Markdown table (the book's ledger page is generated from this)."""
    rows = ledger_rows(directory)
    if not rows:
        return "*No results files were found, so there are no claims to show.*\n"
    cols = ["chapter", "profile", "claim", "paper", "ours", "verdict", "file", "commit"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"
