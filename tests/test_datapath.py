"""Where the data is: a relative MTLNOTES_DATA means one folder from every working directory; the default finds the
workspace's shared/data beside the checkout; data errors say which folder was searched and what went wrong."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mtlnotes
from mtlnotes.data import ChecksumError, DataMissingError, RemoteFile, fetch
from mtlnotes.datapath import checkout_root, data_dir, describe_data_dir

ROOT = Path(mtlnotes.__file__).resolve().parent.parent
README = ROOT / "README.md"

# prints the folder the loaders use, and the MTLNOTES_DATA a child process (e.g. a Jupyter kernel) inherits
# (mtlnotes.datapath rather than mtlnotes.data.cache_dir, which returns the same, to keep torch out: fast)
_PROBE = ("import os, subprocess, sys, mtlnotes; from mtlnotes.datapath import data_dir; print(data_dir()); "
          "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"MTLNOTES_DATA\", \"-\"))'], "
          "capture_output=True, text=True, check=True).stdout.strip())")


def _probe(cwd: Path, value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "MTLNOTES_DATA"}
    if value is not None:
        env["MTLNOTES_DATA"] = value
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_package_runs_from_this_checkout_and_cache_dir_is_data_dir(monkeypatch):
    from mtlnotes.data import cache_dir

    assert checkout_root() == ROOT
    monkeypatch.setenv("MTLNOTES_DATA", "../x")
    assert cache_dir() == data_dir() == ROOT.parent / "x"


def test_relative_mtlnotes_data_is_the_same_folder_from_every_working_directory(tmp_path):
    expected = str(ROOT.parent / "shared" / "data")
    for cwd in (ROOT, ROOT / "notebooks", tmp_path):
        folder, inherited = _probe(cwd, "../shared/data")
        assert folder == expected, cwd
        assert inherited == expected, cwd  # absolute in the environment that child processes inherit


def test_every_mtlnotes_data_the_readme_shows_means_one_folder_from_root_and_from_notebooks():
    values = re.findall(r"MTLNOTES_DATA=(\S+)", README.read_text(encoding="utf-8"))
    for value in values:
        value = value.strip("`\"'")
        assert _probe(ROOT, value)[0] == _probe(ROOT / "notebooks", value)[0], value


def test_readme_set_up_needs_no_export_when_shared_data_is_beside_the_checkout():
    if not (ROOT.parent / "shared" / "data").is_dir():
        pytest.skip("no shared/data beside this checkout")
    for cwd in (ROOT, ROOT / "notebooks"):
        assert _probe(cwd, None)[0] == str(ROOT.parent / "shared" / "data")


def test_default_is_shared_data_beside_the_checkout_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("MTLNOTES_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shared = ROOT.parent / "shared" / "data"
    assert data_dir() == (shared if shared.is_dir() else tmp_path / "mtlnotes")
    monkeypatch.setattr("mtlnotes.datapath.checkout_root", lambda: None)  # an installed package
    assert data_dir() == tmp_path / "mtlnotes"


def test_relative_value_resolves_against_the_checkout_and_the_message_says_so(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MTLNOTES_DATA", "some/data")
    assert data_dir() == ROOT / "some" / "data"
    text = describe_data_dir()
    assert str(ROOT / "some" / "data") in text and "'some/data'" in text


def _remote(content: bytes) -> RemoteFile:
    import hashlib

    return RemoteFile("toy", "toy.bin", ("https://example.invalid/toy.bin",),
                      sha256=hashlib.sha256(content).hexdigest(), how_to_get="Ask the dataset's authors.")


def test_missing_file_message_names_the_resolved_folder_and_no_download_disabled_when_allowed(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path / "..")
    relative = os.path.relpath(tmp_path / "nowhere", ROOT)  # relative to the checkout, as the rule says
    monkeypatch.setenv("MTLNOTES_DATA", relative)
    with pytest.raises(DataMissingError) as err:
        fetch(_remote(b"x"), download=True)
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and repr(relative) in msg
    assert "download attempts" in msg and "disabled" not in msg
    # the failed download leaves no empty dataset folder behind (it used to create <data>/toy/)
    assert not (tmp_path / "nowhere" / "toy").exists()
    with pytest.raises(DataMissingError, match="download=False"):
        fetch(_remote(b"x"), download=False)
    no_url = RemoteFile("toy", "toy.bin", (), sha256="0" * 64)
    with pytest.raises(DataMissingError, match="no public download URL"):
        fetch(no_url, tmp_path, download=True)


def test_a_corrupt_file_is_reported_as_corrupt(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.bin").write_bytes(b"not the file")
    with pytest.raises(ChecksumError, match="corrupt"):
        fetch(_remote(b"the file"), tmp_path, download=False)
