"""Invariants of the book: layout, table of contents, notebooks' shape and stored outputs, environments."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def test_layout_of_the_design_card():
    for p in ("book", "mtlnotes", "notebooks", "tests", "_config.yml", "_toc.yml", "environment.yml",
              "README.md", "pyproject.toml", ".ci/run"):
        assert (ROOT / p).exists(), p


def test_toc_and_notebooks_agree():
    files = _toc_files()
    for f in files:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"_toc.yml names missing {f}"
    listed = {f for f in files if f.startswith("notebooks/")}
    assert {f"notebooks/{nb.stem}" for nb in NOTEBOOKS} == listed, "every notebook is a chapter in _toc.yml"


def test_config_fails_on_errors_and_has_bibliography():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert cfg["execute"]["allow_errors"] is False
    assert cfg["bibtex_bibfiles"] == ["book/references.bib"]
    for pattern in ("_build", "tests"):
        assert pattern in cfg["exclude_patterns"]


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), flags=re.M))
    sources = [p.read_text() for p in (ROOT / "book").glob("*.md")] + [p.read_text() for p in NOTEBOOKS]
    cited = {k.strip() for s in sources for group in re.findall(r"\{cite[tp]?\}`([^`]+)`", s) for k in group.split(",")}
    assert cited - keys == set(), f"cited but not in book/references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_shape_and_stored_outputs(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), "first code cell must be tagged 'parameters'"
    assert "".join(first["source"]).strip() == 'PROFILE = "quick"'
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    assert all(c.get("execution_count") for c in code), "execute the whole notebook before committing"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), "stored outputs must come from one top-to-bottom run"
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"stored error output in {path.name}"
            text = json.dumps(out)
            for bad in ("/work/", "/tmp/", "/root/", "/home/"):
                assert bad not in text, f"machine path {bad} in the outputs of {path.name}"
        src = "".join(c["source"])
        assert not re.search(r"^\s*(def|class)\s", src, flags=re.M), "functions/classes belong in mtlnotes"
    assert path.stat().st_size < 3_000_000


_STDLIB_BEFORE_MTLNOTES = {"warnings", "dataclasses", "time", "os", "sys", "json", "math", "pathlib", "__future__"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_imports_mtlnotes_before_numpy_or_torch(path):
    """mtlnotes pins portable numerics at import; NumPy reads its pins when it is imported (mtlnotes/numerics.py)."""
    nb = json.loads(path.read_text())
    src = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    modules = re.findall(r"^\s*(?:import|from)\s+([\w.]+)", src, flags=re.M)
    first = next(m for m in modules if m.split(".")[0] not in _STDLIB_BEFORE_MTLNOTES)
    assert first == "mtlnotes", f"{path.name}: first import is {first!r}; put `import mtlnotes` before it"


def _names(reqs):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower().replace("_", "-"): r.strip() for r in reqs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    have = _names([p for p in pip if not p.startswith("-")])
    assert set(have) == set(wanted), f"drift: only in pyproject {set(wanted) - set(have)}, only in env {set(have) - set(wanted)}"
    for name, spec in wanted.items():
        if name != "torch":
            assert have[name].replace(" ", "") == spec.replace(" ", ""), f"{name}: {have[name]} vs {spec}"
    assert have["torch"] == "torch==2.13.0"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    command = re.search(r"^# test-command\n(.+)$", ci, flags=re.M).group(1).strip()
    assert command in readme and command in ci.split("# test-command", 1)[1]


def _cells(nb_path: Path) -> list[dict]:
    return json.loads(nb_path.read_text())["cells"]


def _text_outputs(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        for kind in ("text/plain", "text/html", "text/markdown"):
            parts.append("".join(out.get("data", {}).get(kind, "")))
    return "\n".join(parts)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_show_readers_no_test_machinery(nb_path):
    """nbval markers live in cell tags, warning filters and table options in mtlnotes.display.setup_notebook()."""
    for i, cell in enumerate(_cells(nb_path)):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert "# NBVAL" not in source, f"{nb_path.name} cell {i}: use the nbval-ignore-output tag, not a comment"
        assert 'message="IProgress not found"' not in source, f"{nb_path.name} cell {i}: call setup_notebook()"
        assert "display.max_colwidth" not in source, f"{nb_path.name} cell {i}: setup_notebook() sets it"
        assert ".to_string(" not in source, f"{nb_path.name} cell {i}: show tables as tables, not printed text"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_tables_are_not_truncated_and_use_the_book_notation(nb_path):
    for i, cell in enumerate(_cells(nb_path)):
        text = _text_outputs(cell) + ("".join(cell["source"]) if cell["cell_type"] == "markdown" else "")
        assert not re.search(r"(?<!\\)pi\^C", text), f"{nb_path.name} cell {i}: write π^C (or $\\pi^C$ in maths)"
        assert not re.search(r"\w\.\.\.</td>", text), f"{nb_path.name} cell {i}: a table cell is truncated ('...')"
        assert not re.search(r"<td>(None|NaN)</td>", text), f"{nb_path.name} cell {i}: show missing values as —"
