"""The shared command line: instant, chapter-specific --help; one-line errors with exit code 2 for bad input, before
anything runs; results written to the working directory unless --out names a file; corrupt data called corrupt."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import mtlnotes
from mtlnotes.data import ChecksumError, DataMissingError
from mtlnotes.experiments import cli
from mtlnotes.experiments.catalog import CHAPTERS, plain_text
from mtlnotes.results import Claim

ROOT = Path(mtlnotes.__file__).resolve().parent.parent


def _python_m(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------------------------------------------- --help

EXPERIMENTS = sorted(p.stem for p in (ROOT / "mtlnotes/experiments").glob("*.py")
                     if p.stem not in {"__init__", "cli", "catalog"})


@pytest.mark.parametrize("chapter", EXPERIMENTS)
def test_every_chapters_help_is_instant(chapter):
    start = time.perf_counter()
    done = _python_m(f"mtlnotes.experiments.{chapter}", "--help")
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert elapsed < 2.0, (f"--help took {elapsed:.1f} s: list the chapter in mtlnotes/experiments/catalog.py, or "
                           "pass run_cli a literal dict of profiles")
    assert "profiles:" in done.stdout and ":mod:" not in done.stdout and "``" not in done.stdout


def test_help_read_from_a_chapters_source(tmp_path):
    source = tmp_path / "toy.py"
    source.write_text('''"""Chapter: a toy (Someone, 2021), see :mod:`mtlnotes.data.toy`.

* ``quick`` — small, on a CPU,
  in minutes.
* paper — the paper's settings.
* other — not a profile.
"""
from mtlnotes.experiments.cli import run_cli
if __name__ == "__main__":
    run_cli("toy", {"quick": QUICK, "paper": PAPER}, run, claims)
''')
    from mtlnotes.experiments.catalog import from_source

    info = from_source("toy", source)
    assert info.description == "Chapter: a toy (Someone, 2021), see mtlnotes.data.toy."
    assert info.profiles == {"quick": "small, on a CPU, in minutes.", "paper": "the paper's settings."}
    source.write_text("run_cli('toy', {p.profile: p for p in ALL}, run, claims)")
    assert from_source("toy", source) is None  # not literal: help after the import instead


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_help_is_instant_and_the_chapters_own(chapter):
    start = time.perf_counter()
    done = _python_m(f"mtlnotes.experiments.{chapter}", "--help")
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert elapsed < 2.0, f"--help took {elapsed:.1f} s"
    text = " ".join(done.stdout.split())
    info = CHAPTERS[chapter]
    assert " ".join(info.description.split()) in text
    for name, line in info.profiles.items():  # every profile, each with its own explanation
        assert re.search(rf"^  {re.escape(name)} +\S", done.stdout, re.M), name
        assert " ".join(line.split()) in text
    assert ":mod:" not in done.stdout and "``" not in done.stdout  # plain text, no Sphinx markup


def test_cli_module_lists_every_chapter():
    done = _python_m("mtlnotes.experiments.cli", "--help")
    assert done.returncode == 0 and not done.stderr, done.stderr
    for chapter, info in CHAPTERS.items():
        assert re.search(rf"^  {chapter} ", done.stdout, re.M)
        assert ", ".join(info.profiles) in " ".join(done.stdout.split())  # the list may wrap over lines
    assert "--threads" in done.stdout
    assert _python_m("mtlnotes.experiments.cli").stdout == done.stdout


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_catalog_names_exactly_the_profiles_the_chapter_runs(chapter, monkeypatch):
    seen = {}

    def capture(name, profiles, run, claims, argv=None):
        seen[name] = list(profiles)

    monkeypatch.setattr(cli, "run_cli", capture)
    monkeypatch.setattr(sys, "argv", [chapter])
    runpy.run_module(f"mtlnotes.experiments.{chapter}", run_name="__main__")
    assert list(seen.values()) == [list(CHAPTERS[chapter].profiles)]


def test_plain_text_drops_sphinx_roles():
    doc = "Uses :mod:`mtlnotes.data.qm9` and :func:`~x.run_qm9` with ``--profile``.\n\nSecond paragraph."
    assert plain_text(doc) == "Uses mtlnotes.data.qm9 and run_qm9 with --profile."


# ---------------------------------------------------------------------------------------------------- running

@dataclasses.dataclass(frozen=True)
class _Config:
    profile: str = "quick"
    seeds: tuple[int, ...] = (0,)


def _run(config, *, device=None, checkpoint_dir=None):
    return {"seeds": list(config.seeds), "device": str(device)}


def _claims(results, config):
    return [Claim("toy", "runs", 1, 1, True, config.profile, "here")]


@pytest.fixture
def restore_torch():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)  # as it was: warn_only too


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.run_cli("toy", {"quick": _Config()}, _run, _claims, argv)
    return exc.value.code, capsys.readouterr()


@pytest.mark.parametrize("argv, says", [
    (["--threads", "0"], "--threads: must be a positive integer, got 0"),
    (["--threads", "two"], "--threads: must be a positive integer"),
    (["--device", "foo"], "unknown --device 'foo'"),
    (["--seeds", "1,x"], "--seeds: must be comma-separated"),
    (["--profile", "paper"], "invalid choice: 'paper'"),
    (["--worker"], "--worker needs --checkpoint-dir"),
])
def test_bad_options_end_in_one_line_and_exit_2(argv, says, capsys, tmp_path, monkeypatch, restore_torch):
    monkeypatch.chdir(tmp_path)
    code, out = _cli(argv, capsys)
    assert code == 2 and says in out.err
    assert len(out.err.strip().splitlines()) == 1 and "Traceback" not in out.err
    assert list(tmp_path.iterdir()) == []  # nothing ran


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_one_line_error(capsys, tmp_path, monkeypatch, restore_torch):
    monkeypatch.chdir(tmp_path)
    code, out = _cli(["--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in out.err and len(out.err.strip().splitlines()) == 1


@pytest.mark.parametrize("make_out", [
    lambda tmp: tmp / "a-file" / "out.json",  # a path under a regular file
    lambda tmp: tmp,                            # a directory
])
def test_unwritable_out_is_refused_before_the_run(make_out, capsys, tmp_path, monkeypatch, restore_torch):
    (tmp_path / "a-file").write_text("x")
    ran = []
    monkeypatch.setattr(sys.modules[__name__], "_run", lambda *a, **k: ran.append(1) or {})
    code, out = _cli(["--out", str(make_out(tmp_path))], capsys)
    assert code == 2 and "--out" in out.err and len(out.err.strip().splitlines()) == 1
    assert not ran


def test_without_out_the_results_go_to_the_working_directory(capsys, tmp_path, monkeypatch, restore_torch):
    monkeypatch.chdir(tmp_path)
    path = cli.run_cli("toy", {"quick": _Config()}, _run, _claims, ["--seeds", "3,4", "--device", "cpu"])
    assert path == Path("toy-quick.json") and (tmp_path / "toy-quick.json").exists()
    data = json.loads((tmp_path / "toy-quick.json").read_text())
    assert data["results"] == {"seeds": [3, 4], "device": "cpu"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-quick.json"]  # no results/ folder, no probe left


def test_a_worker_computes_units_into_the_checkpoint_directory_and_writes_no_results_file(capsys, tmp_path,
                                                                                         monkeypatch, restore_torch):
    from mtlnotes.checkpoint import CheckpointStore

    monkeypatch.chdir(tmp_path)

    def run(config, *, device=None, checkpoint_dir=None):
        store = CheckpointStore(checkpoint_dir, fingerprint={"toy": 1})   # a chapter's store has its config's
        return {s: store.get_or_compute(f"seed{s}", lambda s=s: s + 10) for s in config.seeds}

    argv = ["--checkpoint-dir", "ckpt", "--seeds", "1,2"]
    assert cli.run_cli("toy", {"quick": _Config()}, run, _claims, argv + ["--worker"]) is None
    assert "worker done: computed 2 unit(s)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]                  # no results file
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "FINGERPRINT", "seed1.json", "seed1.record", "seed2.json", "seed2.record"]
    path = cli.run_cli("toy", {"quick": _Config()}, run, _claims, argv)            # the main run reads them
    doc = json.loads(path.read_text())
    assert doc["results"] == {"1": 11, "2": 12}
    units = doc["units"]                          # how the units it read were computed (by the worker)
    assert units["n_units"] == units["n_recorded"] == 2 and sorted(units["records"]) == ["seed1", "seed2"]
    assert units["compute_s"] == pytest.approx(sum(r["seconds"] for r in units["records"].values()))
    assert units["commits"] == [doc["provenance"]["git_commit"] or "unknown"]


@pytest.mark.parametrize("error, says", [
    (ChecksumError("/data/mnist/x.gz is corrupt or not the official file: sha256 is 00, expected 11."),
     "found a corrupt data file"),
    (DataMissingError("dataset file mnist/x.gz is not in the cache"), "needs data that is not available here"),
])
def test_data_errors_exit_2_and_say_corrupt_when_corrupt(error, says, capsys, tmp_path, monkeypatch, restore_torch):
    monkeypatch.chdir(tmp_path)

    def failing(config, *, device=None, checkpoint_dir=None):
        raise error

    with pytest.raises(SystemExit) as exc:
        cli.run_cli("toy", {"quick": _Config()}, failing, _claims, [])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and says in err and "Traceback" not in err


def test_help_of_a_chapter_not_in_the_catalog_comes_from_its_docstring(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.run_cli("toy", {"quick": _Config(), "big": _Config("big")}, _run, _claims, ["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    # this module's first docstring paragraph, as plain text
    assert "The shared command line: instant, chapter-specific --help;" in " ".join(out.split())
    assert re.search(r"^  big\b", out, re.M)


def test_bad_device_through_python_m_is_one_line_exit_2(tmp_path):
    done = _python_m("mtlnotes.experiments.fairness", "--device", "foo", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "python -m mtlnotes.experiments.fairness: error: unknown --device 'foo': use cpu, cuda or cuda:N (see --help)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module, argv, says", [
    ("routing", ["--time-budget", "soon"], "--time-budget needs a value"),
    ("routing", ["--architectures"], "--architectures needs a value"),
    ("routing", ["--first-n-tasks", "1,3"], "--first-n-tasks needs a value (task counts of at least 2"),
    ("routing", ["--first-n-tasks", "two"], "--first-n-tasks needs a value (task counts of at least 2"),
    ("fairness", ["--dataset", "mnist"], "--dataset needs one of german, compas, adult"),
    ("fairness", ["--runs-per-program", "0"], "--runs-per-program needs a positive integer, got '0'"),
    ("fairness", ["--runs-per-program"], "--runs-per-program needs a positive integer, got ''"),
])
def test_chapter_options_end_in_one_line_and_exit_2(module, argv, says, capsys):
    import importlib

    chapter = importlib.import_module(f"mtlnotes.experiments.{module}")
    with pytest.raises(SystemExit) as exc:
        chapter.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and says in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_chapter_has_a_main_that_passes_its_arguments_to_the_shared_cli(chapter, monkeypatch):
    import importlib

    seen = []

    def capture(name, profiles, run, claims, argv=None):
        seen.append(list(argv) if argv is not None else None)

    module = importlib.import_module(f"mtlnotes.experiments.{chapter}")
    monkeypatch.setattr(cli, "run_cli", capture)
    monkeypatch.setattr(module, "run_cli", capture, raising=False)
    module.main(["--profile", "quick"])
    assert seen == [["--profile", "quick"]]


def test_fairness_runs_per_program_reaches_every_profile_and_not_the_shared_cli(monkeypatch):
    from mtlnotes.experiments import fairness

    seen = []
    monkeypatch.setattr(cli, "run_cli",
                        lambda name, profiles, run, claims, argv=None: seen.append((name, profiles, argv)))
    fairness.main(["--dataset", "adult", "--runs-per-program", "30", "--profile", "paper"])
    name, profiles, argv = seen[0]
    assert name == "fairness_adult" and argv == ["--profile", "paper"]
    assert {c.runs_per_program for c in profiles.values()} == {30}
    assert {c.datasets for c in profiles.values()} == {("adult",)}


def test_help_counts_the_recorded_compute_of_a_stored_run_assembled_from_units(tmp_path, monkeypatch):
    """A results file written with --checkpoint-dir carries its units' compute records: --help gives their total
    beside the command's own wall time, and says how many units had no record."""
    from mtlnotes.experiments import catalog
    from mtlnotes.results import write_results

    units = {"compute_s": 5400.0, "n_units": 3, "n_recorded": 2, "commits": ["abc"], "any_dirty": False,
             "records": {"a": None, "b": {"seconds": 2700.0}, "c": {"seconds": 2700.0}}}
    path = write_results(tmp_path / "toy-quick.json", chapter="toy", profile="quick", config={"profile": "quick"},
                         seeds=[0], results={}, claims=[], wall_time_s=42.0, units=units)
    monkeypatch.setattr(catalog, "_results_head", lambda chapter, profile: path.read_text()[:16384])
    monkeypatch.setattr(cli, "last_units_compute", catalog.last_units_compute)
    monkeypatch.setattr(cli, "last_wall_time", catalog.last_wall_time)
    info = catalog.ChapterInfo("Toy", "A toy chapter.", {"quick": "Minutes."})
    epilog = " ".join(cli.build_parser("toy", info, ["quick"]).epilog.split())
    assert ("Last stored run: 42 s (results/toy-quick.json); its 3 checkpointed units, computed then or earlier: "
            "90 min of recorded compute (1 of them without a full record).") in epilog
