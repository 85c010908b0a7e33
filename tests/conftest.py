"""Shared fixtures: the real data cache (tests needing it skip cleanly without it), determinism."""

from __future__ import annotations

import os
from pathlib import Path

import mtlnotes  # noqa: F401  (first: pins portable CPU numerics before torch runs an op; kernels nbval starts inherit it)
import pytest
import torch

from mtlnotes.data import cache_dir

torch.set_num_threads(int(os.environ.get("MTLNOTES_THREADS", "2")))


def _has(root: Path, *rel: str) -> bool:
    return all((root / r).exists() for r in rel)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data cache root (``$MTLNOTES_DATA``); skips the test when MNIST is not there."""
    root = cache_dir()
    if not _has(root, "mnist/train-images-idx3-ubyte.gz"):
        pytest.skip(f"real MNIST not found under {root}; set MTLNOTES_DATA (CI uses ../shared/data)")
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    """(train, test) real MNIST."""
    from mtlnotes.data import load_mnist

    return load_mnist("train", data_root, download=False), load_mnist("test", data_root, download=False)


@pytest.fixture(scope="session")
def fashion_mnist(data_root):
    """(train, test) real Fashion-MNIST; skips when absent."""
    from mtlnotes.data import load_fashion_mnist

    if not _has(data_root, "fashion_mnist/train-images-idx3-ubyte.gz"):
        pytest.skip("real Fashion-MNIST not found in the data cache")
    return load_fashion_mnist("train", data_root, download=False), load_fashion_mnist("test", data_root, download=False)


@pytest.fixture
def one_thread():
    """Run a test on one torch thread and restore the count afterwards.

    For tiny networks one thread is fastest and avoids spin-waiting on a busy machine. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_WATCHED_ENV_PREFIXES = ("MTLNOTES_", "OMP_", "MKL_", "OPENBLAS_", "ONEDNN_", "ATEN_", "NPY_", "PYTHONHASHSEED")


@pytest.fixture(autouse=True)
def environment_left_as_found():
    """Fail a test that leaves a setting which changes numerics (threads, kernels, seeds) in ``os.environ``.

    The Jupyter kernels that nbval starts later in the same pytest process inherit ``os.environ``: a leaked
    ``MTLNOTES_THREADS=1`` once made every notebook train on one thread and miss its stored outputs.
    The change is undone as well. Other variables (e.g. ones torch sets for itself on import) are not watched.
    """
    def snapshot() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith(_WATCHED_ENV_PREFIXES)}

    before = snapshot()
    yield
    after = snapshot()
    if after != before:
        for key in after.keys() - before.keys():
            del os.environ[key]
        os.environ.update(before)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        pytest.fail(f"test changed os.environ and did not restore it: {changed}")
