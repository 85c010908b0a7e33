"""Sphinx extension: readers see prose and the chapter's calls, not the test machinery.

When a notebook is read for the site (Sphinx's ``source-read`` event, before MyST-NB parses it), code cells
whose source is machinery get the cell tag ``remove-input``: their code is not shown, their outputs are. A
cell is machinery when it holds

* ``# NBVAL_IGNORE_OUTPUT`` (nbval's marker for outputs that change from run to run, e.g. timings),
* ``warnings.filterwarnings`` / ``warnings.simplefilter`` (silencing library notices), or
* the numerics-pinning import (``import mtlnotes  # first: pins ...``), i.e. the chapter's set-up cell.

The notebook files are not changed (nbval and the stored outputs are unaffected), so the rule holds for every
chapter, old and new, without anyone tagging cells by hand. ``tests/test_book_site.py`` checks it.
"""

from __future__ import annotations

import json
import re

MACHINERY = re.compile(
    r"NBVAL_IGNORE_OUTPUT|NBVAL_SKIP|warnings\.(?:filterwarnings|simplefilter)\(|^import mtlnotes\s*#.*\bpin",
    flags=re.M,
)
TAG = "remove-input"


def is_machinery(source: str) -> bool:
    """Whether a code cell's source is test or set-up machinery a reader need not see."""
    return bool(MACHINERY.search(source))


def hide_machinery(notebook: dict) -> int:
    """Tag the machinery cells of a notebook (nbformat 4 JSON, changed in place); returns how many were tagged."""
    tagged = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if is_machinery(source) and TAG not in tags and "parameters" not in tags:
            tags.append(TAG)
            tagged += 1
    return tagged


def _source_read(app, docname: str, source: list[str]) -> None:
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    if hide_machinery(notebook):
        source[0] = json.dumps(notebook)


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
