"""Resumable runs: finished units of work are stored on disk and skipped when a run is restarted.

An experiment's ``run`` splits into units (e.g. one method × one seed) and wraps each in
``store.get_or_compute(key, fn)``. If the process dies, rerunning with the same checkpoint directory
recomputes only the unfinished units. For long single units, :meth:`CheckpointStore.save_state` /
:meth:`load_state` keep torch state (model, optimiser, epoch) so training continues mid-unit.

Several processes may share one directory (``python -m mtlnotes.experiments.<chapter> --worker``, see
:mod:`mtlnotes.experiments.cli`): a process takes a unit by creating ``<key>.lock`` (atomically, holding its host and
process id) and removes it once the result is stored. A unit that another live process holds is waited for, or, in
``when_taken="skip"`` mode (:func:`taken_units`), passed over: ``get_or_compute`` returns None for it and records its
key in the :class:`UnitLog` of the block. A lock left by a process that died on this host is taken over.

Beside each unit the store keeps ``<key>.record`` (JSON): how the unit was computed, one segment per process that
worked on it (git commit and dirty flag, host, CPU model, start time, torch threads, the device the CLI was told and its
GPU if any, and the seconds of compute that reached a saved state or the result), so a run assembled from units computed
over several sessions and machines says what it cost (:meth:`CheckpointStore.records`; the CLI copies them into
the results file).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch

from mtlnotes.results import git_state, to_jsonable

__all__ = ["CheckpointStore", "taken_units", "UnitLog", "unit_records", "compute_rows", "hours_by_machine",
           "commit_label", "segment_gpu", "cpu_model"]

WhenTaken = Literal["wait", "skip"]


class UnitLog:
    """What the stores created inside :func:`taken_units` did: the keys they computed, the keys they read (stored
    earlier) and the keys they skipped because another process held them."""

    def __init__(self, when_taken: WhenTaken, device: torch.device | str | None = None) -> None:
        self.when_taken = when_taken
        self.device = device
        self.computed: list[str] = []
        self.read: list[str] = []
        self.skipped: list[str] = []


_LOCAL = threading.local()   # the UnitLogs of the open taken_units blocks, per thread


def _computing() -> list[str]:
    """The keys this thread is computing, outermost first (a unit may compute other units inside it)."""
    if not hasattr(_LOCAL, "computing"):
        _LOCAL.computing = []
    return _LOCAL.computing


def _active() -> list[UnitLog]:
    if not hasattr(_LOCAL, "logs"):
        _LOCAL.logs = []
    return _LOCAL.logs


@contextlib.contextmanager
def taken_units(when_taken: WhenTaken, device: torch.device | str | None = None) -> Iterator[UnitLog]:
    """Inside the block, every new :class:`CheckpointStore` waits for (``"wait"``) or skips (``"skip"``) the units
    another process holds, and reports to the yielded :class:`UnitLog`. The CLI wraps a chapter's ``run`` in it.

    ``device`` is the torch device the block's units compute on (the CLI's ``--device``): each record segment then
    names it, and names a GPU only when it is a CUDA device (see :func:`segment_gpu`)."""
    if when_taken not in ("wait", "skip"):
        raise ValueError(f"when_taken must be 'wait' or 'skip', got {when_taken!r}")
    log = UnitLog(when_taken, device)
    _active().append(log)
    try:
        yield log
    finally:
        _active().remove(log)


class CheckpointStore:
    """A folder of finished results (JSON) and resumable states (torch) keyed by strings.

    ``directory=None`` disables checkpointing (everything is computed, nothing written), which is what
    notebooks use. ``fingerprint`` (e.g. the config as a dict) guards against resuming with another config.
    """

    #: seconds between looks at a unit another process holds
    poll_s: float = 10.0

    def __init__(self, directory: str | os.PathLike | None, fingerprint: Any = None) -> None:
        self.log = _active()[-1] if _active() else UnitLog("wait")
        self.directory = Path(directory) if directory is not None else None
        self.fingerprint = hashlib.sha256(json.dumps(to_jsonable(fingerprint), sort_keys=True).encode()).hexdigest()[:16]
        self._segments: dict[str, tuple[float, dict]] = {}   # key -> (perf_counter at start, segment) of this process
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = self.directory / "FINGERPRINT"
            if stamp.exists():
                if stamp.read_text().strip() != self.fingerprint:
                    raise ValueError(f"checkpoint directory {self.directory} belongs to a run with another config; "
                                     f"use a fresh directory or delete it")
            else:  # written whole (os.replace), so that a process sharing the directory never reads it half-written
                tmp = stamp.with_name(f"FINGERPRINT.tmp{os.getpid()}-{threading.get_ident()}")
                tmp.write_text(self.fingerprint + "\n")
                os.replace(tmp, stamp)

    def _path(self, key: str, suffix: str) -> Path:
        return _unit_path(self.directory, key, suffix)

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored result for ``key`` if any, else ``compute()`` stored (as JSON) and returned. While another
        process holds ``key`` (see the module docstring): wait for its result, or in skip mode return None."""
        if self.directory is None:
            return compute()
        path = self._path(key, ".json")
        told = False
        while True:
            if path.exists():
                self.log.read.append(key)
                return json.loads(path.read_text())
            holder = self._take(key)
            if holder is None:
                break
            if self.log.when_taken == "skip":
                self.log.skipped.append(key)
                return None
            if not told:
                print(f"waiting for unit {key!r}, held by {holder} (delete {self._path(key, '.lock')} if that "
                      f"process is gone)", file=sys.stderr, flush=True)
                told = True
            time.sleep(self.poll_s)
        try:
            if path.exists():  # stored by another process between our look and our lock
                self.log.read.append(key)
                return json.loads(path.read_text())
            self._begin_segment(key)
            value = to_jsonable(compute())
            self._write_result(key, value)
            self._note_segment(key, finished=True)
            self.log.computed.append(key)
            return value
        finally:
            if self._segments.pop(key, None) is not None:
                _computing().remove(key)
            self._path(key, ".lock").unlink(missing_ok=True)

    # ---- how each unit was computed ---------------------------------------------------------------------------
    def _begin_segment(self, key: str) -> None:
        commit, dirty = git_state()
        computing = _computing()
        segment = {"id": uuid.uuid4().hex[:12], "commit": commit, "dirty": dirty, "host": socket.gethostname(),
                   "cpu": cpu_model(), "pid": os.getpid(),
                   "started_utc": _utc_now(), "torch_threads": torch.get_num_threads(),
                   "device": None if self.log.device is None else str(self.log.device),
                   "gpu": segment_gpu(self.log.device),
                   "within": computing[-1] if computing else None, "seconds": 0.0}
        self._segments[key] = (time.perf_counter(), segment)
        computing.append(key)
        if self._path(key, ".pt").exists():
            self._mark_unrecorded_resume(key)

    def _owner(self, state_key: str) -> str | None:
        """The unit of this process whose compute a state saved or loaded under ``state_key`` belongs to: the unit
        ``state_key`` itself, else the innermost unit this thread is computing in this store (a unit may keep its
        training state under another key, e.g. ``"<arch>-seed0"`` inside the unit ``"<arch>-seed0-done"``)."""
        if state_key in self._segments:
            return state_key
        inner = [k for k in _computing() if k in self._segments]
        return inner[-1] if inner else None

    def _mark_unrecorded_resume(self, key: str) -> None:
        """``key`` resumes from a state saved before records were kept: its earlier compute is not in the record."""
        if self.record(key) is None:
            self._write_record(key, {"segments": [], "seconds": 0.0, "earlier_unrecorded": True})

    def _note_segment(self, key: str, finished: bool = False) -> None:
        """Write this process's segment of ``key`` (its compute time so far) into ``<key>.record``."""
        if key not in self._segments:
            return
        start, segment = self._segments[key]
        segment["seconds"] = round(time.perf_counter() - start, 3)
        record = self.record(key) or {"segments": []}
        record["segments"] = [s for s in record["segments"] if s["id"] != segment["id"]]
        record["segments"].append(dict(segment))
        record["seconds"] = round(sum(s["seconds"] for s in record["segments"]), 3)
        if finished:
            record["finished_utc"] = _utc_now()
        self._write_record(key, record)

    def _write_record(self, key: str, record: dict) -> None:
        path = self._path(key, ".record")
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)

    def record(self, key: str) -> dict | None:
        """How ``key`` was computed: ``{"segments": [...], "seconds": total, "finished_utc": ...}``, or None (no
        directory, or a unit stored before records were kept). ``"earlier_unrecorded": true`` marks a unit that
        resumed from a state saved before records were kept: its seconds leave that earlier compute out."""
        return _read_record(self.directory, key)

    def records(self, keys: list[str]) -> dict:
        """The compute records of ``keys`` for a results file (:func:`unit_records` of this directory)."""
        return unit_records(self.directory, keys)

    def _take(self, key: str) -> str | None:
        """Lock ``key`` for this process: None when taken, else the holder ("host:pid") of the existing lock.
        A lock of a process that no longer runs on this host is removed and taken."""
        lock = self._path(key, ".lock")
        me = f"{socket.gethostname()}:{os.getpid()}"
        for _ in range(3):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = lock.read_text().strip() if lock.exists() else ""
                host, _, pid = holder.rpartition(":")
                if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
                    lock.unlink(missing_ok=True)   # its process died: take the unit over
                    continue
                if holder or lock.exists():
                    return holder or "another process"
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me + "\n")
            return None
        return "another process"

    def adopt(self, key: str, value: Any, record: dict | None = None) -> bool:
        """Store ``value`` as the finished result of ``key``, computed elsewhere (another machine's run, a results
        file), with the ``record`` of how it was computed; return True if written, False if ``key`` already holds
        this result. A different stored result is an error: one of the two runs is not the run the other resumes.
        The record is written before the result, so that a unit is never finished without it."""
        if self.directory is None:
            raise ValueError("adopt needs a store with a directory")
        path, value = self._path(key, ".json"), to_jsonable(value)
        if path.exists():
            if json.loads(path.read_text()) != value:
                raise ValueError(f"unit {key!r} is stored in {self.directory} with another result; keep one of "
                                 f"them (delete {path.name} and {path.stem}.record to take the other)")
            return False
        if record is not None:
            self._write_record(key, record)
        self._write_result(key, value)
        return True

    def _write_result(self, key: str, value: Any) -> None:
        """Write ``<key>.json`` whole (os.replace), so that a process sharing the directory never reads half of it."""
        path = self._path(key, ".json")
        tmp = path.with_suffix(f".json.tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)

    def get(self, key: str) -> Any:
        """The stored result for ``key``, or None when there is none (or no directory)."""
        if self.directory is None:
            return None
        path = self._path(key, ".json")
        return json.loads(path.read_text()) if path.exists() else None

    def drop_state(self, key: str) -> None:
        """Delete the resumable state of a unit that has finished (its result is stored)."""
        if self.directory is not None:
            self._path(key, ".pt").unlink(missing_ok=True)

    def save_state(self, key: str, state: dict) -> None:
        """Save a torch state dict (atomically) for a unit that is still running."""
        if self.directory is None:
            return
        path = self._path(key, ".pt")
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        owner = self._owner(key)
        if owner is not None:
            self._note_segment(owner)

    def load_state(self, key: str) -> dict | None:
        """The saved torch state for ``key``, or None."""
        if self.directory is None:
            return None
        path = self._path(key, ".pt")
        if not path.exists():
            return None
        owner = self._owner(key)
        if owner is not None:
            self._mark_unrecorded_resume(owner)
        return torch.load(path, weights_only=False, map_location="cpu")  # a GPU run's state resumes anywhere


def unit_records(directory: str | os.PathLike | None, keys: list[str]) -> dict:
    """The compute records of ``keys`` in a checkpoint directory, for a results file (read only: no fingerprint
    is needed): each unit's record (None for a unit without one), ``n_recorded`` (units whose record covers all
    their compute), the commits and whether any segment ran from a dirty tree, and ``compute_s``, the recorded
    seconds of all of them (a lower bound when ``n_recorded`` < ``n_units``), where a unit computed inside another
    (``within``) in a process whose outer segment is recorded is counted once, in the outer one."""
    def record(key: str) -> dict | None:
        return _read_record(directory, key)

    recs = {k: record(k) for k in dict.fromkeys(keys)}
    kept = [r for r in recs.values() if r is not None]
    whole = [r for r in kept if not r.get("earlier_unrecorded")]
    total = 0.0
    for r in kept:
        for seg in r["segments"]:
            outer = record(seg["within"]) if seg.get("within") else None
            if outer is None or not any((o["host"], o["pid"]) == (seg["host"], seg["pid"]) for o in outer["segments"]):
                total += seg["seconds"]
    return {"compute_s": round(total, 3), "n_units": len(recs), "n_recorded": len(whole),
            "commits": sorted({s["commit"] or "unknown" for r in kept for s in r["segments"]}),
            "any_dirty": any(bool(s["dirty"]) for r in kept for s in r["segments"]), "records": recs}


def segment_gpu(device: torch.device | str | None) -> str | None:
    """The GPU a record segment names: that of ``device`` when it is a CUDA device, None for any other device.
    Where the device was not stated (``None``: a store used outside the CLI), the current GPU whenever CUDA is
    available, which is all that records said before they stated the device."""
    if device is None:
        return torch.cuda.get_device_name() if torch.cuda.is_available() else None
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU's model name, from ``cpuinfo`` (the text of /proc/cpuinfo; read when None), else the platform's
    processor string, else None. Records name it because machines of one kind may share a host name ("vm") and
    differ in speed (task-specific-1-fc: about 40 s per epoch on one, 64–75 s on another, one thread each)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == "model name" and value.strip():
            return value.strip()
    import platform

    return platform.processor() or None


def commit_label(segment: dict) -> str:
    """A record segment's commit, short, with "-dirty" when its tree had changes ("unknown" outside git)."""
    return (segment["commit"] or "unknown")[:7] + ("-dirty" if segment["dirty"] else "")


def compute_rows(units: dict) -> list[dict]:
    """Where the units of a results file were computed: one row per unit and kind of machine, from the ``"units"``
    section (:func:`unit_records`): ``{"unit", "where", "hours", "segments", "commits", "earlier unrecorded"}``,
    where ``where`` is the GPU's name for segments computed on a CUDA device (:func:`segment_gpu`; segments written
    before records stated the device name the GPU of any machine that had one) and "CPU" otherwise, in the order
    the unit first ran on each.
    A unit without a record has one row with ``where`` "not recorded". A unit resumed on another machine kind has a
    row for each. "earlier unrecorded" is True for a unit that resumed from a state saved before records were kept:
    its hours leave that earlier compute out."""
    rows = []
    for key, record in units.get("records", {}).items():
        if record is None:
            rows.append({"unit": key, "where": "not recorded", "hours": None, "segments": 0, "commits": "",
                         "earlier unrecorded": True})
            continue
        kinds: dict[str, dict] = {}
        for seg in record["segments"]:
            row = kinds.setdefault(seg["gpu"] or "CPU", {"unit": key, "where": seg["gpu"] or "CPU", "hours": 0.0,
                                                          "segments": 0, "commits": [],
                                                          "earlier unrecorded": bool(record.get("earlier_unrecorded"))})
            row["hours"] += seg["seconds"] / 3600
            row["segments"] += 1
            commit = commit_label(seg)
            if commit not in row["commits"]:
                row["commits"].append(commit)
        rows += [{**r, "hours": round(r["hours"], 3), "commits": ", ".join(r["commits"])} for r in kinds.values()]
    return rows


def hours_by_machine(rows: list[dict]) -> dict[str, float]:
    """Hours of :func:`compute_rows` summed per kind of machine (``"CPU"`` or a GPU's name), in the order the kinds
    first appear; units "not recorded" are left out (they have no hours)."""
    totals: dict[str, float] = {}
    for row in rows:
        if row["hours"] is not None:
            totals[row["where"]] = totals.get(row["where"], 0.0) + row["hours"]
    return totals


def _unit_path(directory: str | os.PathLike, key: str, suffix: str) -> Path:
    """``<directory>/<key><suffix>`` with the key's characters made safe for a file name."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
    return Path(directory) / f"{safe}{suffix}"


def _read_record(directory: str | os.PathLike | None, key: str) -> dict | None:
    if directory is None:
        return None
    path = _unit_path(directory, key, ".record")
    return json.loads(path.read_text()) if path.exists() else None


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
