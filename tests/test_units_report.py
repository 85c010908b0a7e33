"""benchmarks/units_report.py: one line per unit of a checkpoint directory, from its result and its record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mtlnotes.checkpoint import CheckpointStore, cpu_model
from mtlnotes.results import git_state


def _script():
    path = Path(__file__).parents[1] / "benchmarks" / "units_report.py"
    spec = importlib.util.spec_from_file_location("units_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_unit_shows_its_best_epoch_time_and_record(tmp_path, capsys):
    store = CheckpointStore(tmp_path, fingerprint="report")
    store.get_or_compute("a-seed0", lambda: {"best_epoch": 2, "val_acc": [0.1, 0.2, 0.3, 0.25],
                                             "epoch_seconds": [1.0, 3.0, 2.0, 2.0]})
    (tmp_path / "b-seed0.json").write_text(json.dumps({"best_epoch": 0}))   # stored before records were kept
    _script().main([str(tmp_path), "--note", "b-*=commit 1234567, GPU"])
    a, b = capsys.readouterr().out.splitlines()
    commit = (git_state()[0] or "unknown")[:7]
    assert a.startswith("a-seed0") and "best epoch  3 of 4" in a and "2.0 s/epoch" in a
    assert "1 segment(s)" in a and f"commit {commit}" in a
    assert f"({cpu_model()})" in a   # the CPU model, which tells apart machines that share a host name
    assert b.startswith("b-seed0") and "no record" in b and b.endswith("commit 1234567, GPU")


def test_a_folder_that_is_not_a_checkpoint_directory_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        _script().main([str(tmp_path)])


def test_units_in_progress_show_their_record_and_saved_epochs(tmp_path, capsys):
    store = CheckpointStore(tmp_path, fingerprint="report")
    store.get_or_compute("r-seed0-done", lambda: {"epochs_run": 4, "train_seconds": 10.0, "test_accuracy": [0.9] * 4})

    def stopped():
        store.save_state("r-seed1", {"history": [{}, {}], "train_seconds": 7200.0})
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_compute("r-seed1-done", stopped)
    _script().main([str(tmp_path)])
    done, running, state = capsys.readouterr().out.splitlines()
    assert done.startswith("r-seed0-done") and "4 epochs     2.5 s/epoch" in done
    assert running.startswith("r-seed1-done  in progress") and "1 segment(s)" in running
    assert state == "r-seed1  state saved after 2 epoch(s), 2.00 h of training"
