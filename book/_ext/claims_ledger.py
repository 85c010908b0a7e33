"""Sphinx extension: fills the ledger page with every claim found in ``results/*.json``.

The page ``book/ledger.md`` contains the marker ``{{ claims_ledger }}``; at build time it is replaced by
the Markdown table from :func:`mtlnotes.results.ledger_markdown`, so the ledger always shows exactly the
results files in the repository.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "{{ claims_ledger }}"


def _fill(app, docname: str, source: list[str]) -> None:
    if MARKER not in source[0]:
        return
    from mtlnotes.results import ledger_markdown

    results = Path(app.srcdir) / "results"
    source[0] = source[0].replace(MARKER, ledger_markdown(results))


def setup(app):
    app.connect("source-read", _fill)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
