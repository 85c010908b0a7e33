"""Small solves on one thread.

The weighting methods solve K×K problems (K ≤ a few dozen): Newton steps, Wolfe's min-norm algorithm, CAGrad's
SLSQP, IMTL-G's linear system. On tensors that small, torch's intra-op thread pool and OpenBLAS's threads only
add synchronisation, and when another process keeps the cores busy a parallel region waits for a descheduled
worker: milliseconds per call instead of microseconds (numbers: ``benchmarks/small_solves.py``).
:func:`one_thread` runs a block with torch and the BLAS libraries on one thread and restores their counts.
The K×d work around the solves (Gram matrices, directions) keeps the caller's threads: it is large, and its
rounding depends on the thread count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_thread"]

_BLAS: list = []  # the threadpoolctl selection of BLAS libraries, made once (it takes ~15 ms)


def _blas():
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController().select(user_api="blas"))
    return _BLAS[0]


@contextmanager
def one_thread(blas: bool = True) -> Iterator[None]:
    """Run the block with torch's intra-op threads (and, with ``blas``, NumPy's/SciPy's BLAS threads) set to 1.

    ``blas=False`` for blocks without BLAS calls larger than a few elements: limiting BLAS costs ~15 µs.

    >>> with one_thread(blas=False):
    ...     torch.get_num_threads()
    1
    """
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        controller = _blas() if blas else None
        if controller is None:
            yield
        else:
            with controller.limit(limits=1):
                yield
    finally:
        if before != 1:
            torch.set_num_threads(before)
