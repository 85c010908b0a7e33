"""Every committed results file was written by the CLI from a clean tree at a recorded commit.

A number in the book must be reproducible from the commit its file names: a file written from a tree with
uncommitted changes (``git_dirty: true``) could come from code that no commit holds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parent.parent / "results"
FILES = sorted(RESULTS.glob("*.json"))


def test_there_are_results_files():
    assert FILES, f"no results files under {RESULTS}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_results_file_comes_from_a_clean_tree_at_a_commit(path):
    doc = json.loads(path.read_text())
    prov = doc.get("provenance", {})
    assert re.fullmatch(r"[0-9a-f]{40}", str(prov.get("git_commit"))), f"{path.name}: no git commit recorded"
    assert prov.get("git_dirty") is False, (
        f"{path.name} was written from a dirty tree (git_dirty={prov.get('git_dirty')!r}); rerun the CLI from a "
        f"clean checkout or worktree at a commit")
    assert doc.get("chapter") and doc.get("profile"), f"{path.name}: chapter/profile missing"
    assert path.name == f"{doc['chapter']}-{doc['profile']}.json", (
        f"{path.name}: the name does not match chapter '{doc['chapter']}' and profile '{doc['profile']}'")
