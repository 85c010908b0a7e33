"""List the units of a checkpoint directory and how each was computed: one line per unit with its best epoch
(1-based) and mean seconds per epoch (when the unit's result has them) and, from its ``<key>.record``
(:mod:`mtlnotes.checkpoint`), the commits, host, GPU (or CPU model, where recorded) and recorded seconds of
compute. Units stored before records were kept show "no record"; ``--note KEY=TEXT`` adds what is known of them
(e.g. the commit they ran at). Then the units still in progress (a record but no result) and the training states
saved so far (``<key>.pt``: epochs and seconds of training), for a run spread over several sessions.

``python benchmarks/units_report.py DIR [--note 'single-lam1-seed0=commit 9b2ed70, this CPU'] > units.txt``
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from mtlnotes.checkpoint import commit_label


def describe(result: dict, record: dict | None, note: str = "") -> str:
    """One unit's line (after its key)."""
    parts = []
    if isinstance(result, dict) and "best_epoch" in result:   # stored 0-based (mtlnotes.fit); printed 1-based
        of = f" of {len(result['val_acc'])}" if isinstance(result.get("val_acc"), list) else ""
        parts.append(f"best epoch {result['best_epoch'] + 1:>2}{of}")
    seconds = result.get("epoch_seconds") if isinstance(result, dict) else None
    if seconds:
        parts.append(f"{statistics.mean(seconds):7.1f} s/epoch")
    elif isinstance(result, dict) and result.get("epochs_run") and "train_seconds" in result:   # e.g. routing
        parts.append(f"{result['epochs_run']:>3} epochs {result['train_seconds'] / result['epochs_run']:7.1f} s/epoch")
    if record is None:
        parts.append("no record")
    else:
        commits = sorted({commit_label(s) for s in record["segments"]})
        where = sorted({s["host"] + (f" ({s['gpu']})" if s["gpu"] else f" ({s['cpu']})" if s.get("cpu") else "")
                        for s in record["segments"]})   # records before session 21 do not name the CPU
        text = (f"recorded {record['seconds']:8.0f} s in {len(record['segments'])} segment(s), "
                f"commit {', '.join(commits)}, {', '.join(where)}")
        if record.get("earlier_unrecorded"):
            text += "; earlier compute (before records) not included"
        parts.append(text)
    if note:
        parts.append(note)
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--note", action="append", default=[], metavar="KEY=TEXT",
                        help="what is known of a unit (repeatable); KEY may end in * to match a prefix")
    args = parser.parse_args(argv)
    if not (args.directory / "FINGERPRINT").exists():
        parser.error(f"{args.directory} is not a checkpoint directory (no FINGERPRINT file)")
    notes = []
    for item in args.note:
        key, sep, text = item.partition("=")
        if not sep:
            parser.error(f"--note must be KEY=TEXT, got {item!r}")
        notes.append((key, text))
    keys = sorted(p.stem for p in args.directory.glob("*.json"))
    width = max((len(k) for k in keys), default=0) + 2
    for key in keys:
        result = json.loads((args.directory / f"{key}.json").read_text())
        record_path = args.directory / f"{key}.record"
        record = json.loads(record_path.read_text()) if record_path.exists() else None
        note = "; ".join(t for k, t in notes if k == key or (k.endswith("*") and key.startswith(k[:-1])))
        print(f"{key:<{width}}{describe(result, record, note)}")
    for path in sorted(args.directory.glob("*.record")):
        if not (args.directory / f"{path.stem}.json").exists():
            print(f"{path.stem}  in progress  {describe({}, json.loads(path.read_text()))}")
    for path in sorted(args.directory.glob("*.pt")):
        print(f"{path.stem}  {saved_state(path)}")


def saved_state(path: Path) -> str:
    """What a unit's saved training state (:func:`mtlnotes.fit.fit`'s checkpoint) holds: epochs and training time."""
    import torch

    state = torch.load(path, weights_only=False, map_location="cpu")
    history = state.get("history", []) if isinstance(state, dict) else []
    seconds = state.get("train_seconds") if isinstance(state, dict) else None
    text = f"state saved after {len(history)} epoch(s)"
    return text + (f", {seconds / 3600:.2f} h of training" if seconds is not None else "")


if __name__ == "__main__":
    main()
