"""Seeding, determinism, thread count and device choice.

Every experiment calls :func:`seed_everything` per seed and :func:`make_deterministic` once, so that a
CPU run is bit-for-bit repeatable; with the portable numerics pinned by ``import mtlnotes``
(:mod:`mtlnotes.numerics`) also on other x86-64 machines, which is what nbval in CI checks.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from mtlnotes.numerics import check_portable_numerics

__all__ = ["seed_everything", "make_deterministic", "set_threads", "thread_count", "choose_device", "device_label", "torch_generator"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and CUDA)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh, seeded torch generator (prefer these over the global one inside library code)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def make_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (and cuDNN without autotuning).

    On CPU this is a no-op for most ops; on CUDA it also sets ``CUBLAS_WORKSPACE_CONFIG`` as torch requires.
    ``warn_only=True``: an op without a deterministic implementation warns instead of raising.
    Also warns if CPU numerics are not portable across machines (see :mod:`mtlnotes.numerics`).
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        check_portable_numerics()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def set_threads(n: int | None = None, *, default: int = 2) -> int:
    """Fix torch's intra-op thread count (``n``, else ``MTLNOTES_THREADS``, else ``default``: 2, the CI
    machine's cores; a chapter of tiny models passes ``default=1`` where two threads were measured slower).

    A fixed count keeps floating-point reduction order, and so results, identical between runs.
    Returns the count set.
    """
    if n is None:
        n = int(os.environ.get("MTLNOTES_THREADS", str(default)))
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def thread_count(n: int | None) -> Iterator[int]:
    """Run a block with ``n`` torch CPU threads (``None`` or 0: leave the count as it is), then restore the
    count that was set before, also when the block raises. Yields the count in force inside the block."""
    before = torch.get_num_threads()
    if n:
        set_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def choose_device(override: str | None = None) -> torch.device:
    """``override`` if given (e.g. "cpu", "cuda:0"), else ``MTLNOTES_DEVICE``, else cuda when available, else cpu."""
    name = override or os.environ.get("MTLNOTES_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_label(device: str | torch.device | None = None) -> str:
    """The device as results files name it: ``"cpu"``, or ``"cuda:0 (NVIDIA H200)"`` with the GPU's name
    (``None``: the device :func:`choose_device` would pick)."""
    dev = str(device) if device is not None else str(choose_device())
    if dev.startswith("cuda") and torch.cuda.is_available():
        dev = f"{dev} ({torch.cuda.get_device_name(torch.device(dev))})"
    return dev
