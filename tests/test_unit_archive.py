"""Finished units outlive the machine (``mtlnotes.unit_archive``): copied between checkpoint directories, or restored
from a CLI results file, they are read back by the run they belong to instead of being computed again."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mtlnotes.checkpoint import CheckpointStore, unit_records
from mtlnotes.unit_archive import copy_finished_units, finished_unit_files, main, restore_from_results


def _never():
    pytest.fail("a copied unit was computed again")


def _run_dir(path, fingerprint=None):
    """A checkpoint directory with a finished unit "a", a unit "b" in progress (a saved state) and a lock on "c"."""
    store = CheckpointStore(path, fingerprint)
    store.get_or_compute("a", lambda: {"accuracy": [0.5, 0.75]})
    store.save_state("b", {"epoch": 3})
    store._path("b", ".record").write_text('{"segments": [], "seconds": 1.0}\n')
    store._path("c", ".lock").write_text("elsewhere:1\n")
    return store


def test_only_finished_units_are_copied_with_their_records_and_read_back_without_computing(tmp_path):
    source = _run_dir(tmp_path / "run", fingerprint={"epochs": 100})
    assert copy_finished_units(tmp_path / "run", tmp_path / "archive") == ["a"]
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == ["FINGERPRINT", "a.json", "a.record"]
    assert json.loads((tmp_path / "archive" / "a.record").read_text()) == source.record("a")

    assert copy_finished_units(tmp_path / "archive", tmp_path / "fresh") == ["a"]   # on the next machine
    fresh = CheckpointStore(tmp_path / "fresh", fingerprint={"epochs": 100})      # the same config opens it
    assert fresh.get_or_compute("a", _never) == {"accuracy": [0.5, 0.75]}
    assert fresh.record("a") == source.record("a")
    assert copy_finished_units(tmp_path / "archive", tmp_path / "fresh") == []      # already there: nothing to do


def test_units_of_another_config_or_another_result_are_refused_before_anything_is_written(tmp_path):
    _run_dir(tmp_path / "run", fingerprint={"epochs": 100})
    other = CheckpointStore(tmp_path / "other", fingerprint={"epochs": 8})
    with pytest.raises(ValueError, match="another config"):
        copy_finished_units(tmp_path / "run", tmp_path / "other")
    assert not other._path("a", ".json").exists()

    clash = CheckpointStore(tmp_path / "clash", fingerprint={"epochs": 100})
    clash.get_or_compute("a", lambda: {"accuracy": [0.5, 0.8]})
    with pytest.raises(ValueError, match="'a' has another result"):
        copy_finished_units(tmp_path / "run", tmp_path / "clash")
    with pytest.raises(FileNotFoundError, match="no FINGERPRINT"):
        copy_finished_units(tmp_path / "nothing", tmp_path / "x")


def test_the_units_of_a_results_file_are_restored_under_the_keys_the_run_stored_them(tmp_path):
    run = CheckpointStore(tmp_path / "run", fingerprint={"epochs": 100})
    values = {"m-seed0": {"test_accuracy": [0.9, 0.95]}, "m-seed1": {"test_accuracy": [0.91, 0.97]}}
    for name, value in values.items():   # the routing chapter stores unit "<name>" under "<name>-done"
        run.get_or_compute(name + "-done", lambda value=value: value)
    results = {"results": {"units": values}, "units": unit_records(tmp_path / "run", [k + "-done" for k in values])}

    fresh = CheckpointStore(tmp_path / "fresh", fingerprint={"epochs": 100})
    assert restore_from_results(results, fresh, suffix="-done") == ["m-seed0-done", "m-seed1-done"]
    for name, value in values.items():
        assert fresh.get_or_compute(name + "-done", _never) == value
        assert fresh.record(name + "-done") == run.record(name + "-done")
    assert restore_from_results(results, fresh, suffix="-done") == []
    # the file's units went in exactly as the run stored them: a directory copied from the run agrees
    assert copy_finished_units(tmp_path / "run", tmp_path / "fresh") == []

    with pytest.raises(ValueError, match="check the suffix"):
        restore_from_results(results, fresh)
    results["results"]["units"]["m-seed0"] = {"test_accuracy": [0.1]}
    with pytest.raises(ValueError, match="another result"):
        restore_from_results(results, fresh, suffix="-done")
    with pytest.raises(ValueError, match="no units and records"):
        restore_from_results({"results": {}}, fresh)


def test_the_command_copies_and_says_what_it_did_or_what_was_wrong(tmp_path, capsys):
    _run_dir(tmp_path / "run")
    main([str(tmp_path / "run"), str(tmp_path / "archive")])
    assert "copied 1 finished unit(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "missing"), str(tmp_path / "archive")])
    assert stop.value.code == 2 and "no FINGERPRINT" in capsys.readouterr().err


# --- the finished units committed with the repository -------------------------------------------------------------
# A run spread over sessions keeps the finished units that are in no results file yet under
# results/partial/<chapter>-<profile>/ (a copy of its checkpoint directory's finished units); its results file keeps
# the rest. Both must resume in a fresh checkpoint directory of the profile's config.

RESULTS = Path(__file__).resolve().parent.parent / "results"
PARTIAL = sorted(p for p in (RESULTS / "partial").iterdir() if p.is_dir()) if (RESULTS / "partial").is_dir() else []


@pytest.mark.parametrize("folder", PARTIAL, ids=[p.name for p in PARTIAL])
def test_every_committed_partial_unit_was_computed_from_clean_trees_at_recorded_commits(folder):
    results = finished_unit_files(folder)
    assert results, f"{folder} holds no finished units"
    for result in results:
        record = json.loads(result.with_suffix(".record").read_text())
        assert record["segments"], f"{result.name}: no segment recorded"
        for segment in record["segments"]:
            assert re.fullmatch(r"[0-9a-f]{40}", str(segment["commit"])), f"{result.name}: no commit recorded"
            assert segment["dirty"] is False, f"{result.name}: a segment ran from a dirty tree"


def test_the_routing_paper_run_resumes_in_a_fresh_directory_from_its_results_file_and_partial_units(tmp_path):
    from mtlnotes.experiments.routing import PAPER, Config, checkpoint_fingerprint, checkpoint_units

    doc = json.loads((RESULTS / "routing-paper.json").read_text())
    store = CheckpointStore(tmp_path / "ck", checkpoint_fingerprint(PAPER))
    assert store.fingerprint == CheckpointStore(None, checkpoint_fingerprint(Config(**doc["config"]))).fingerprint, (
        "the routing paper profile's config is not the one results/routing-paper.json ran: its units would not "
        "resume; restore the config or train them again")
    units = checkpoint_units(doc)   # the main units and Figure 15's units on the first n tasks
    restored = restore_from_results(doc, store, suffix="-done", units=units)
    assert restored == [f"{name}-done" for name in units] and "routing-all-fc-seed0-done" in restored
    for name, value in units.items():
        assert store.get_or_compute(f"{name}-done", _never) == value
    partial = RESULTS / "partial" / "routing-paper"
    if partial.is_dir():   # the profile's config must not have changed since these units ran
        copied = copy_finished_units(partial, tmp_path / "ck")
        assert copied and not set(copied) & set(restored)
