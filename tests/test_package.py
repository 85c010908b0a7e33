"""`import mtlnotes`: a package map, __all__, lazy subpackages; tensor APIs name the type that came instead."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import mtlnotes


def test_every_name_in_all_exists_and_the_docstring_maps_it():
    for name in mtlnotes.__all__:
        assert getattr(mtlnotes, name) is not None
        if name != "__version__":
            assert f"``{name}``" in mtlnotes.__doc__, name
            assert importlib.import_module(f"mtlnotes.{name}") is getattr(mtlnotes, name)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute or subpackage 'nope'"):
        mtlnotes.nope  # noqa: B018


def test_import_mtlnotes_stays_light():
    code = "import sys, mtlnotes; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("call", [
    lambda x: mtlnotes.weighting.MGDA().aggregate(x),
    lambda x: mtlnotes.weighting.base.check_grads(x),
    lambda x: mtlnotes.weighting.base.check_losses(x),
])
def test_a_numpy_array_gets_a_type_error_that_says_so(call):
    with pytest.raises(TypeError, match=r"expected a torch.Tensor, got numpy.ndarray; convert it with torch.as_tensor"):
        call(np.zeros((3, 100)))
    with pytest.raises(ValueError, match=r"\(K, d\) tensor, got shape \(3,\)"):
        mtlnotes.weighting.base.check_grads(torch.zeros(3))
