"""Finished units that outlive the machine: copy them between checkpoint directories, or back out of a results file.

A long profile (e.g. routing's ``paper``: 100 epochs per unit, ≈ 2 CPU-hours each) runs over several sessions, and
the machine that holds its checkpoint directory (:mod:`mtlnotes.checkpoint`) may be replaced between them, taking the
finished units with it. Two ways keep them:

* :func:`copy_finished_units` — copy every finished unit (its ``<key>.json`` result and ``<key>.record``) and the
  directory's ``FINGERPRINT`` from one checkpoint directory to another: out of a run's directory into the folder
  committed for units that are in no results file yet (``results/partial/<chapter>-<profile>/``, see
  ``book/reproducibility.md``), and from there into a fresh checkpoint directory on the next machine. Training
  states (``.pt``), locks and units still in progress are not copied.
* :func:`restore_from_results` — the units of a results file written by the CLI (``results["results"]["units"]``
  and their records, ``results["units"]["records"]``) stored again as finished units of a checkpoint directory, so
  that a results file is enough to resume the run it came from.

The units keep their records (commit, host, seconds of every segment), so a results file written later from the
copied units says where and at which commit each was computed. ``python -m mtlnotes.unit_archive SOURCE DEST``
runs :func:`copy_finished_units`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtlnotes.checkpoint import CheckpointStore

__all__ = ["copy_finished_units", "finished_unit_files", "restore_from_results", "main"]

FINGERPRINT = "FINGERPRINT"


def finished_unit_files(directory: str | os.PathLike) -> list[Path]:
    """The result files (``<key>.json``) of the finished units of a checkpoint directory, sorted by name (temporary
    files of a unit being written are not results)."""
    return sorted(p for p in Path(directory).glob("*.json") if p.is_file())


def copy_finished_units(source: str | os.PathLike, destination: str | os.PathLike) -> list[str]:
    """Copy the finished units of checkpoint directory ``source`` into ``destination`` (created if missing); return
    the file stems of the units copied, sorted.

    ``destination`` must hold no ``FINGERPRINT`` or the same one as ``source`` (the units of another config are never
    mixed); its own units are kept. A unit stored in both with the same result is left as it is; with another result
    it is an error (one of the two runs was not the run the other resumes). A unit's record is copied with it."""
    source, destination = Path(source), Path(destination)
    stamp = source / FINGERPRINT
    if not stamp.is_file():
        raise FileNotFoundError(f"{source} is not a checkpoint directory (no {FINGERPRINT}); give the --checkpoint-dir "
                                f"of a run, or a folder copied from one")
    theirs = (destination / FINGERPRINT).read_text().strip() if (destination / FINGERPRINT).is_file() else None
    if theirs is not None and theirs != stamp.read_text().strip():
        raise ValueError(f"{destination} holds units of another config (FINGERPRINT {theirs}, not "
                         f"{stamp.read_text().strip()} as in {source}); copy into a fresh directory")
    todo = []
    for result in finished_unit_files(source):
        target = destination / result.name
        if target.exists():
            if json.loads(target.read_text()) != json.loads(result.read_text()):
                raise ValueError(f"unit {result.stem!r} has another result in {destination} than in {source}; "
                                 f"keep one of them (delete the other's {result.name} and {result.stem}.record)")
            continue
        todo.append(result)
    destination.mkdir(parents=True, exist_ok=True)
    if theirs is None:
        shutil.copyfile(stamp, destination / FINGERPRINT)
    for result in todo:
        record = result.with_suffix(".record")
        if record.is_file():
            _copy_whole(record, destination / record.name)
        _copy_whole(result, destination / result.name)   # the result last: a unit is finished once it is there
    return [r.stem for r in todo]


def restore_from_results(results: dict | str | os.PathLike, store: CheckpointStore, suffix: str = "",
                         units: Mapping[str, dict] | None = None) -> list[str]:
    """Store the units of a CLI results file (a path or its loaded dict) in ``store`` as finished units, with their
    records; return the store keys written, in the file's order.

    A unit ``name`` of ``results["results"]["units"]`` (or of ``units``, the file's units as the chapter's store
    holds them where the file keeps some elsewhere: routing's :func:`~mtlnotes.experiments.routing.checkpoint_units`)
    is stored under ``name + suffix``, the key the chapter's run stored it under (routing: ``"-done"``); each such key
    must be among the file's unit records
    (``results["units"]["records"]``), which checks the suffix. ``store`` must have the fingerprint of the file's
    config (open it as the chapter's ``run`` does). A unit already stored with the same result is left as it is;
    with another result it is an error."""
    if not isinstance(results, dict):
        results = json.loads(Path(results).read_text())
    if store.directory is None:
        raise ValueError("restore_from_results needs a store with a directory")
    if units is None:
        units = results.get("results", {}).get("units")
    records = (results.get("units") or {}).get("records")
    if not isinstance(units, dict) or not isinstance(records, dict):
        raise ValueError("the results file has no units and records to restore (results.units and units.records); "
                         "only files written by the CLI with --checkpoint-dir have them")
    missing = [name + suffix for name in units if name + suffix not in records]
    if missing:
        raise ValueError(f"no record for {missing[0]!r} in the results file (records: {sorted(records)[:3]}...); "
                         f"check the suffix {suffix!r}")
    keys = {name: name + suffix for name in units}
    return [keys[name] for name, value in units.items() if store.adopt(keys[name], value, records[keys[name]])]


def _copy_whole(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f"{dst.name}.tmp{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def main(argv: list[str] | None = None) -> None:
    """``python -m mtlnotes.unit_archive SOURCE DEST``: :func:`copy_finished_units`, then a line saying what it did."""
    parser = argparse.ArgumentParser(prog="python -m mtlnotes.unit_archive",
                                     description="Copy the finished units of a checkpoint directory into another.")
    parser.add_argument("source", help="a checkpoint directory (or a folder of units copied from one)")
    parser.add_argument("destination", help="where the units go (created if missing)")
    args = parser.parse_args(argv)
    try:
        copied = copy_finished_units(args.source, args.destination)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"copied {len(copied)} finished unit(s) from {args.source} to {args.destination}"
          + (": " + ", ".join(copied) if copied else ""))


if __name__ == "__main__":
    main()
