"""Sphinx extension: fills the ledger page with every claim found in ``results/*.json``.

The page ``book/ledger.md`` contains the marker ``{{ claims_ledger }}``; at build time it is replaced by
Markdown generated from :func:`mtlnotes.results.load_claims`: first a summary with one row per results file
(chapter, profile, how many claims hold, do not hold, are inconclusive, are not judged; file and commit), then one section per
results file with its claims in a narrow table (claim, source, paper, ours, verdict). So the ledger always
shows exactly the results files in the repository, and no table is wider than the page.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

MARKER = "{{ claims_ledger }}"


def _cell(value: Any) -> str:
    """A table cell: numbers to 4 significant digits, "—" for missing values, no pipes or newlines."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _verdict(claim) -> str:
    return claim.verdict  # holds / does not hold / inconclusive / not judged (mtlnotes.results.Claim)


def ledger_page(results: Path) -> str:
    """The ledger's Markdown: a per-file summary, then the claims of each file."""
    from mtlnotes.results import load_claims

    by_file: dict[str, list] = defaultdict(list)
    heads: dict[str, dict] = {}
    for head, claim in load_claims(results):
        by_file[head["file"]].append(claim)
        heads[head["file"]] = head
    if not by_file:
        return "*No results files were found, so there are no claims to show.*\n"

    lines = ["## Summary", "",
             "| chapter | profile | claims | holds | does not hold | inconclusive | not judged | results file, commit |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    for name, claims in by_file.items():
        head = heads[name]
        verdicts = [_verdict(c) for c in claims]
        lines.append(f"| [{head['chapter']}](#ledger-{Path(name).stem}) | {head['profile']} | {len(claims)} | "
                     f"{verdicts.count('holds')} | {verdicts.count('does not hold')} | "
                     f"{verdicts.count('inconclusive')} | {verdicts.count('not judged')} | "
                     f"`{name}`, `{head['commit'] or '—'}` |")
    lines += ["", "## Claims by results file", ""]
    for name, claims in by_file.items():
        head = heads[name]
        lines += [f"(ledger-{Path(name).stem})=", f"### {head['chapter']} — {head['profile']}", "",
                  f"`results/{name}`, written by the code at commit `{head['commit'] or '—'}` "
                  f"on {head['device'] or '—'}.", "",
                  "| claim | source | paper | ours | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {_cell(c.claim)} | {_cell(c.source)} | {_cell(c.paper)} | {_cell(c.ours)} | {_verdict(c)} |"
                  for c in claims]
        lines.append("")
    return "\n".join(lines) + "\n"


def _fill(app, docname: str, source: list[str]) -> None:
    if MARKER not in source[0]:
        return
    source[0] = source[0].replace(MARKER, ledger_page(Path(app.srcdir) / "results"))


def setup(app):
    app.connect("source-read", _fill)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
