"""The built site reads well offline: MathJax ships with it, test machinery is hidden from readers, the claims ledger
is a summary followed by narrow per-file tables, and pages can be screenshot in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

import mtlnotes
from mtlnotes.results import Claim, write_results

ROOT = Path(mtlnotes.__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reader_view = _load(ROOT / "book/_ext/reader_view.py")
claims_ledger = _load(ROOT / "book/_ext/claims_ledger.py")


def test_mathjax_is_served_from_the_site_not_a_cdn():
    config = CONFIG["config"]
    path = config["mathjax_path"]
    assert not path.startswith(("http:", "https:", "//"))
    assert any((ROOT / static / path).is_file() for static in config["html_static_path"])
    assert (ROOT / "book/_static/mathjax/LICENSE").is_file()
    assert {"claims_ledger", "reader_view"} <= set(CONFIG["local_extensions"])


def _cell(source: str, tags=()) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)}, "outputs": []}


def test_machinery_cells_are_hidden_and_others_are_not():
    nb = {"cells": [
        _cell('PROFILE = "quick"', ["parameters"]),
        _cell("import mtlnotes  # first: pins portable CPU numerics before numpy loads\nimport numpy as np"),
        _cell("# NBVAL_IGNORE_OUTPUT\nprint(f'{t:.1f} s')"),
        _cell("import warnings\nwarnings.filterwarnings('ignore')"),
        _cell("results = chapter.run(config)  # the chapter's call: readers see it"),
        _cell("import mtlnotes\nfrom mtlnotes.experiments import mmf"),
        {"cell_type": "markdown", "source": "# NBVAL_IGNORE_OUTPUT in prose", "metadata": {}},
    ]}
    assert reader_view.hide_machinery(nb) == 3
    hidden = ["remove-input" in c["metadata"].get("tags", []) for c in nb["cells"]]
    assert hidden == [False, True, True, True, False, False, False]
    assert reader_view.hide_machinery(nb) == 0  # idempotent


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_visible_cell_of_a_chapter_shows_machinery(path):
    nb = json.loads(path.read_text())
    reader_view.hide_machinery(nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "remove-input" not in cell["metadata"].get("tags", []):
            source = "".join(cell["source"])
            for marker in ("NBVAL_IGNORE_OUTPUT", "filterwarnings", "pins portable"):
                assert marker not in source, f"{path.name}: visible cell shows {marker!r}"


def test_ledger_is_a_summary_then_one_narrow_table_per_results_file(tmp_path):
    cfg = {"profile": "quick", "seeds": [0]}
    claims = [Claim("toy", "A beats B", 1.5, 1.23456, True, "quick", "Table 1"),
              Claim("toy", "C beats D", None, float("nan"), None, "quick", "Fig. 2", note="overlap", inconclusive=True),
              Claim("toy", "E | F", "x", "y", False, "quick")]
    write_results(tmp_path / "toy-quick.json", chapter="toy", profile="quick", config=cfg, seeds=[0], results={},
                  claims=claims, wall_time_s=1.0)
    write_results(tmp_path / "toy-paper.json", chapter="toy", profile="paper", config=cfg, seeds=[0], results={},
                  claims=claims[:1], wall_time_s=1.0)
    page = claims_ledger.ledger_page(tmp_path)
    summary, details = page.split("## Claims by results file")
    assert "## Summary" in summary
    assert "| [toy](#ledger-toy-quick) | quick | 3 | 1 | 1 | 1 | 0 |" in summary  # inconclusive, not judged
    assert "| [toy](#ledger-toy-paper) | paper | 1 | 1 | 0 | 0 | 0 |" in summary
    assert "(ledger-toy-quick)=" in details and "### toy — quick" in details
    assert "| A beats B | Table 1 | 1.5 | 1.235 | holds |" in details
    assert "| C beats D | Fig. 2 | — | — | inconclusive |" in details  # no None, no NaN
    assert "| E \\| F |" in details
    rows = [line for line in details.splitlines() if line.startswith("| ")]
    assert all(line.replace("\\|", "").count("|") == 6 for line in rows)  # five columns, file and commit above
    assert "No results files" in claims_ledger.ledger_page(tmp_path / "none")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_screenshot_script_renders_the_shipped_mathjax_offline(tmp_path):
    site = tmp_path / "html"
    shutil.copytree(ROOT / "book/_static/mathjax", site / "_static/mathjax")
    (site / "index.html").write_text(
        '<html><head><script defer src="_static/mathjax/tex-svg-full.js"></script></head><body>'
        '<p>Offline maths: <span class="math notranslate nohighlight">\\(\\alpha^\\top G \\alpha\\)</span></p>'
        "</body></html>")
    shots = _load(ROOT / "benchmarks/screenshot_site.py")
    assert shots.main(["--site", str(site), "--out", str(tmp_path / "png"), "--height", "600"]) == 0
    assert (tmp_path / "png" / "index.png").stat().st_size > 0


def _printed(text: str) -> dict:
    return {"cell_type": "code", "source": "print(x)", "metadata": {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}


def test_wide_printed_tables_are_marked_and_long_single_lines_are_not():
    row = "  MMF with the single structure H_A is more accurate than w/o H (Acc, %)   Table 2   73.27   83.72  holds"
    table = "\n".join(["claim" + " " * 90 + "source  paper  ours  verdict"] + [row] * 4) + "\n"
    config = "Config(" + ", ".join(f"knob{i}={i}" for i in range(80)) + ")\n"
    nb = {"cells": [_printed(table), _printed(config), _printed("short\nlines\nonly\n")]}
    assert reader_view.mark_text_tables(nb) == 1
    assert [c["metadata"]["tags"] for c in nb["cells"]] == [["text-table"], [], []]
