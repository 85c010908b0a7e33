"""Resumable runs: finished units of work are stored on disk and skipped when a run is restarted.

An experiment's ``run`` splits into units (e.g. one method × one seed) and wraps each in
``store.get_or_compute(key, fn)``. If the process dies, rerunning with the same checkpoint directory
recomputes only the unfinished units. For long single units, :meth:`CheckpointStore.save_state` /
:meth:`load_state` keep torch state (model, optimiser, epoch) so training continues mid-unit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mtlnotes.results import to_jsonable

__all__ = ["CheckpointStore"]


class CheckpointStore:
    """A folder of finished results (JSON) and resumable states (torch) keyed by strings.

    ``directory=None`` disables checkpointing (everything is computed, nothing written), which is what
    notebooks use. ``fingerprint`` (e.g. the config as a dict) guards against resuming with another config.
    """

    def __init__(self, directory: str | os.PathLike | None, fingerprint: Any = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.fingerprint = hashlib.sha256(json.dumps(to_jsonable(fingerprint), sort_keys=True).encode()).hexdigest()[:16]
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = self.directory / "FINGERPRINT"
            if stamp.exists() and stamp.read_text().strip() != self.fingerprint:
                raise ValueError(f"checkpoint directory {self.directory} belongs to a run with another config; "
                                 f"use a fresh directory or delete it")
            stamp.write_text(self.fingerprint + "\n")

    def _path(self, key: str, suffix: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
        return self.directory / f"{safe}{suffix}"

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored result for ``key`` if any, else ``compute()`` stored (as JSON) and returned."""
        if self.directory is None:
            return compute()
        path = self._path(key, ".json")
        if path.exists():
            return json.loads(path.read_text())
        value = to_jsonable(compute())
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
        return value

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

    def load_state(self, key: str) -> dict | None:
        """The saved torch state for ``key``, or None."""
        if self.directory is None:
            return None
        path = self._path(key, ".pt")
        return torch.load(path, weights_only=False) if path.exists() else None
