"""Sphinx extension: readers see prose and the chapter's calls, not the test machinery.

When a notebook is read for the site (Sphinx's ``source-read`` event, before MyST-NB parses it), code cells
whose source is machinery get the cell tag ``remove-input``: their code is not shown, their outputs are. A
cell is machinery when it holds

* ``# NBVAL_IGNORE_OUTPUT`` (nbval's marker for outputs that change from run to run, e.g. timings),
* ``warnings.filterwarnings`` / ``warnings.simplefilter`` (silencing library notices), or
* the numerics-pinning import (``import mtlnotes  # first: pins ...``), i.e. the chapter's set-up cell.

Cells that print wide text tables (``DataFrame.to_string()``) get the tag ``text-table``, which
``book/_static/book.css`` shows unwrapped, in a smaller font, scrolling sideways; other printed lines wrap.

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


TEXT_TABLE = "text-table"


def _is_text_table(text: str) -> bool:
    """A printed table (e.g. ``DataFrame.to_string()``): several lines, mostly long, with columns of spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    wide = [line for line in lines if len(line) > 90 and re.search(r"\S {2,}\S", line)]
    return len(lines) >= 3 and len(wide) * 2 >= len(lines)


def mark_text_tables(notebook: dict) -> int:
    """Tag cells that print wide text tables with ``text-table`` (the CSS keeps their columns aligned and lets
    them scroll sideways, in a smaller font, while other long printed lines wrap); returns how many."""
    marked = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        texts = ["".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
                 for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(_is_text_table(t) for t in texts) and TEXT_TABLE not in tags:
            tags.append(TEXT_TABLE)
            marked += 1
    return marked


def _source_read(app, docname: str, source: list[str]) -> None:
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    if hide_machinery(notebook) + mark_text_tables(notebook):
        source[0] = json.dumps(notebook)


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
