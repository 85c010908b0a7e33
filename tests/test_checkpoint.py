"""A checkpoint directory shared by several processes (``mtlnotes.checkpoint``) and the CLI's ``--worker``
(``mtlnotes.experiments.cli``): every unit is computed once, by whichever process takes it first."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

import torch

from mtlnotes import checkpoint
from mtlnotes.checkpoint import CheckpointStore, compute_rows, hours_by_machine, taken_units
from mtlnotes.experiments import cli


def _hold(store: CheckpointStore, key: str, pid: int) -> None:
    """Write the lock another process would hold on ``key``."""
    store._path(key, ".lock").write_text(f"{socket.gethostname()}:{pid}\n")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_unit_another_live_process_holds_is_skipped_in_skip_mode_and_waited_for_otherwise(tmp_path):
    store = CheckpointStore(tmp_path)
    _hold(store, "a", pid=1)   # init: alive for the whole test
    with taken_units("skip") as log:
        skipping = CheckpointStore(tmp_path)
        assert skipping.get_or_compute("a", lambda: pytest.fail("computed a held unit")) is None
        assert skipping.get_or_compute("b", lambda: 2) == 2
    assert log.skipped == ["a"] and log.computed == ["b"]

    def finish_elsewhere():
        time.sleep(0.3)
        store._path("a", ".json").write_text("7")
        store._path("a", ".lock").unlink()

    CheckpointStore.poll_s, before = 0.05, CheckpointStore.poll_s
    try:
        threading.Thread(target=finish_elsewhere).start()
        assert store.get_or_compute("a", lambda: pytest.fail("computed a held unit")) == 7   # waited, then read
    finally:
        CheckpointStore.poll_s = before


def test_the_lock_of_a_process_that_died_is_taken_over_and_every_lock_is_released(tmp_path):
    store = CheckpointStore(tmp_path)
    _hold(store, "a", pid=_dead_pid())
    with taken_units("skip") as log:
        assert CheckpointStore(tmp_path).get_or_compute("a", lambda: 1) == 1
    assert log.computed == ["a"] and not log.skipped
    with pytest.raises(ZeroDivisionError):
        store.get_or_compute("b", lambda: 1 / 0)
    assert not list(tmp_path.glob("*.lock"))   # released after success and after failure
    assert store.get_or_compute("b", lambda: 3) == 3


def test_a_main_run_and_a_worker_compute_every_unit_once_between_them(tmp_path):
    who: dict[int, list[str]] = {}
    guard = threading.Lock()

    def run() -> dict:   # a chapter's run(): eight units of a few hundredths of a second
        store = CheckpointStore(tmp_path, fingerprint={"toy": 1})

        def unit(i):
            time.sleep(0.03)
            with guard:
                who.setdefault(i, []).append(threading.current_thread().name)
            return i * i

        return {i: store.get_or_compute(f"unit{i}", lambda i=i: unit(i)) for i in range(8)}

    CheckpointStore.poll_s, before = 0.01, CheckpointStore.poll_s
    try:
        worker = threading.Thread(target=cli._work_beside, args=(run,), kwargs={"pause_s": 0.01}, name="worker")
        worker.start()
        results, keys = cli._run_sharing(run, shared=True)
        worker.join(timeout=30)
    finally:
        CheckpointStore.poll_s = before
    assert results == {i: i * i for i in range(8)} and sorted(keys) == sorted(f"unit{i}" for i in range(8))
    assert sorted(who) == list(range(8)) and all(len(v) == 1 for v in who.values())   # each unit once
    assert {v[0] for v in who.values()} == {"MainThread", "worker"}                   # by both of them
    assert not worker.is_alive() and not list(tmp_path.glob("*.lock"))


def test_a_failure_in_a_pass_without_skipped_units_is_raised(tmp_path):
    def broken() -> dict:
        CheckpointStore(tmp_path).get_or_compute("x", lambda: 1)
        raise KeyError("a real bug")

    with pytest.raises(KeyError, match="a real bug"):
        cli._run_sharing(broken, shared=True)
    with pytest.raises(ValueError, match="when_taken must be 'wait' or 'skip'"):
        with taken_units("later"):
            pass


def test_a_unit_records_the_compute_of_each_process_that_worked_on_it(tmp_path):
    """An interrupted unit keeps the segment of compute that reached its last saved state; the process that
    finishes it adds its own: the record's seconds are their sum, with the commit each ran from."""
    from mtlnotes.results import git_state

    def interrupted():
        time.sleep(0.2)
        first.save_state("u", {"epoch": 1})
        time.sleep(0.3)                       # lost: after the last saved state
        raise KeyboardInterrupt

    first = CheckpointStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        first.get_or_compute("u", interrupted)
    (seg,) = first.record("u")["segments"]
    assert 0.2 <= seg["seconds"] < 0.45 and "finished_utc" not in first.record("u")
    assert seg["commit"] == git_state()[0] and seg["within"] is None and seg["cpu"] == checkpoint.cpu_model()

    second = CheckpointStore(tmp_path)
    assert second.get_or_compute("u", lambda: time.sleep(0.1) or 5) == 5
    record = second.record("u")
    assert len(record["segments"]) == 2 and "finished_utc" in record
    assert record["seconds"] == pytest.approx(sum(s["seconds"] for s in record["segments"]), abs=1e-3)
    assert record["segments"][1]["seconds"] >= 0.1
    summary = second.records(["u", "never-recorded"])
    assert summary["n_units"] == 2 and summary["n_recorded"] == 1 and summary["records"]["never-recorded"] is None
    assert summary["compute_s"] == record["seconds"] and summary["commits"] == [git_state()[0] or "unknown"]
    assert CheckpointStore(None).record("u") is None


def test_a_unit_computed_inside_another_is_counted_once(tmp_path):
    store = CheckpointStore(tmp_path)

    def outer():
        inner = store.get_or_compute("inner", lambda: time.sleep(0.2) or 1)
        time.sleep(0.1)
        return inner + 1

    assert store.get_or_compute("outer", outer) == 2
    assert store.record("inner")["segments"][0]["within"] == "outer"
    summary = store.records(["outer", "inner"])
    assert summary["compute_s"] == store.record("outer")["seconds"] >= 0.3
    assert store.records(["inner"])["compute_s"] == 0.0   # its time is in its outer unit's, not listed here


def test_a_unit_resumed_from_a_state_saved_before_records_says_its_record_is_partial(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save_state("old", {"epoch": 3})          # as a process without records left it (no segment, no record)
    assert store.record("old") is None
    assert store.get_or_compute("old", lambda: 1) == 1
    record = store.record("old")
    assert record["earlier_unrecorded"] is True and len(record["segments"]) == 1
    summary = store.records(["old"])
    assert summary["n_units"] == 1 and summary["n_recorded"] == 0 and summary["compute_s"] == record["seconds"]


def test_a_unit_that_keeps_its_training_state_under_another_key_records_each_saved_segment(tmp_path):
    """The routing chapter's unit "<arch>-seed0-done" trains with its state saved as "<arch>-seed0": a process
    stopped mid-unit still leaves the compute that reached the saved state in the unit's record."""
    def interrupted():
        time.sleep(0.2)
        first.save_state("u", {"epoch": 1})
        raise KeyboardInterrupt

    first = CheckpointStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        first.get_or_compute("u-done", interrupted)
    (seg,) = first.record("u-done")["segments"]
    assert seg["seconds"] >= 0.2 and first.record("u") is None

    def resumed():
        assert second.load_state("u") == {"epoch": 1}
        return 7

    second = CheckpointStore(tmp_path)
    assert second.get_or_compute("u-done", resumed) == 7
    record = second.record("u-done")
    assert len(record["segments"]) == 2 and "earlier_unrecorded" not in record   # the first segment is there


def test_a_unit_resuming_another_keys_state_saved_before_records_says_its_record_is_partial(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save_state("u", {"epoch": 3})          # as a process without records left it (no segment, no record)
    assert store.get_or_compute("u-done", lambda: store.load_state("u")["epoch"]) == 3
    assert store.record("u-done")["earlier_unrecorded"] is True
    assert store.records(["u-done"])["n_recorded"] == 0


@pytest.fixture
def fake_gpu(monkeypatch):
    """A machine with a CUDA GPU called "Fake GPU", as far as the records can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")


@pytest.mark.parametrize("device, stated, gpu", [("cpu", "cpu", None), ("cuda", "cuda", "Fake GPU"),
                                                 (torch.device("cuda", 0), "cuda:0", "Fake GPU"),
                                                 (None, None, "Fake GPU")])
def test_a_segment_names_the_gpu_only_when_its_units_computed_on_one(tmp_path, fake_gpu, device, stated, gpu):
    """On a machine with a GPU, units the CLI runs with --device cpu are recorded as CPU compute; without a stated
    device (a store used outside the CLI) the record can only say that the machine had a GPU."""
    with taken_units("wait", device):
        CheckpointStore(tmp_path).get_or_compute("u", lambda: 1)
    (seg,) = CheckpointStore(tmp_path).record("u")["segments"]
    assert (seg["device"], seg["gpu"]) == (stated, gpu)
    assert compute_rows({"records": {"u": CheckpointStore(tmp_path).record("u")}})[0]["where"] == (gpu or "CPU")


def test_the_cli_states_its_device_in_the_records_of_the_units_it_computes(tmp_path, fake_gpu):
    def run():
        return {"u": CheckpointStore(tmp_path).get_or_compute("u", lambda: 1)}

    cli._run_sharing(run, shared=True, device=torch.device("cpu"))
    (seg,) = CheckpointStore(tmp_path).record("u")["segments"]
    assert (seg["device"], seg["gpu"]) == ("cpu", None)
    assert checkpoint.segment_gpu("cpu") is None and checkpoint.segment_gpu("cuda:0") == "Fake GPU"


def _segment(seconds, gpu=None, commit="905a7c653e8f", dirty=False):
    return {"id": "x", "commit": commit, "dirty": dirty, "host": "vm", "pid": 1, "started_utc": "", "torch_threads": 1,
            "gpu": gpu, "within": None, "seconds": seconds}


def test_compute_rows_split_a_unit_resumed_on_another_machine_kind():
    units = {"records": {
        "a-seed2-done": {"segments": [_segment(1800, "NVIDIA H200", "4ebbc79aaaa"),
                                      _segment(900, "NVIDIA H200", "4ebbc79aaaa"),
                                      _segment(7200), _segment(3600, dirty=True)], "seconds": 13500},
        "b-seed0-done": {"segments": [_segment(360)], "seconds": 360, "earlier_unrecorded": True},
        "c-seed0-done": None}}
    rows = compute_rows(units)
    assert rows == [
        {"unit": "a-seed2-done", "where": "NVIDIA H200", "hours": 0.75, "segments": 2, "commits": "4ebbc79",
         "earlier unrecorded": False},
        {"unit": "a-seed2-done", "where": "CPU", "hours": 3.0, "segments": 2, "commits": "905a7c6, 905a7c6-dirty",
         "earlier unrecorded": False},
        {"unit": "b-seed0-done", "where": "CPU", "hours": 0.1, "segments": 1, "commits": "905a7c6",
         "earlier unrecorded": True},
        {"unit": "c-seed0-done", "where": "not recorded", "hours": None, "segments": 0, "commits": "",
         "earlier unrecorded": True}]


def test_compute_rows_of_a_results_file_without_units_is_empty():
    assert compute_rows({}) == []


def test_hours_by_machine_sum_the_rows_per_kind_in_first_seen_order_and_skip_unrecorded_units():
    units = {"records": {
        "a-seed0-done": {"segments": [_segment(7200), _segment(1800, "NVIDIA H200", "4ebbc79aaaa")], "seconds": 9000},
        "b-seed0-done": None,
        "c-seed0-done": {"segments": [_segment(900, "NVIDIA H200", "4ebbc79aaaa"), _segment(5400)],
                         "seconds": 6300}}}
    totals = hours_by_machine(compute_rows(units))
    assert list(totals) == ["CPU", "NVIDIA H200"]
    assert totals == {"CPU": pytest.approx(3.5), "NVIDIA H200": pytest.approx(0.75)}   # 2 + 1.5 h; 0.5 + 0.25 h
    assert hours_by_machine([]) == {}


def test_the_cpu_model_is_read_from_cpuinfo_and_falls_back_to_the_platform():
    info = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n"
            "processor\t: 1\nmodel name\t: AMD EPYC 9B14\n")
    assert checkpoint.cpu_model(info) == "AMD EPYC 9B14"
    import platform

    assert checkpoint.cpu_model("processor\t: 0\nmodel name\t:\n") == (platform.processor() or None)


def test_an_adopted_unit_is_read_back_with_its_record_without_computing(tmp_path):
    store = CheckpointStore(tmp_path, fingerprint={"run": 1})
    record = {"segments": [{"id": "x", "commit": "abc", "seconds": 5.0}], "seconds": 5.0}
    assert store.adopt("a-done", {"acc": [0.5, 0.75]}, record) is True
    fresh = CheckpointStore(tmp_path, fingerprint={"run": 1})
    assert fresh.get_or_compute("a-done", lambda: pytest.fail("an adopted unit is finished")) == {"acc": [0.5, 0.75]}
    assert fresh.record("a-done") == record
    assert fresh.adopt("a-done", {"acc": [0.5, 0.75]}, {"segments": [], "seconds": 0.0}) is False   # kept as it was
    assert fresh.record("a-done") == record


def test_adopting_another_result_for_a_stored_unit_or_without_a_directory_is_refused(tmp_path):
    store = CheckpointStore(tmp_path)
    store.get_or_compute("a", lambda: 1)
    with pytest.raises(ValueError, match="'a' is stored .* with another result"):
        store.adopt("a", 2)
    assert store.get("a") == 1
    with pytest.raises(ValueError, match="needs a store with a directory"):
        CheckpointStore(None).adopt("a", 1)
