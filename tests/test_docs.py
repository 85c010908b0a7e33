"""Every docstring example in the package runs as a test (``doctest`` over each module that has one)."""

import doctest
import importlib
from pathlib import Path

import pytest

import mtlnotes

ROOT = Path(mtlnotes.__file__).parent
MODULES = sorted(
    "mtlnotes." + ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in ROOT.rglob("*.py") if ">>>" in p.read_text(encoding="utf-8"))


def test_the_modules_the_issue_names_have_examples():
    assert {"mtlnotes.fit", "mtlnotes.stats", "mtlnotes.weighting.nash", "mtlnotes.weighting.scaling"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name}: no examples found"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed (output above)"
