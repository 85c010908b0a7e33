"""Independent units of an experiment (method × seed runs) side by side in worker processes, one per core.

A unit that seeds its own generators (every ``train_*`` function of the chapters does) computes the same numbers
in any process, so spreading units over processes changes the wall time only. Processes, not threads: the units
spend much of their time in Python (optimiser steps, an RL agent's rollouts), where threads would take turns on
the interpreter lock.

Workers are *spawned* (a fresh interpreter, safe whatever torch has already started in the parent, and the same
on every platform). Each imports :mod:`mtlnotes` first (so the portable CPU numerics are pinned as in the
parent), sets the thread count and deterministic kernels, then calls the unit function. ``processes=1`` calls
the units in this process, in order, through the same function.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["map_units", "default_processes"]


def default_processes(n_units: int | None = None) -> int:
    """One process per core the scheduler gives this process (at most one per unit, given ``n_units``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores if n_units is None else min(cores, n_units))


def _start_worker(threads: int | None, deterministic: bool) -> None:
    import mtlnotes  # noqa: F401  (first: pins the portable CPU kernels before torch runs anything)
    from mtlnotes.repro import make_deterministic, set_threads

    if threads is not None:
        set_threads(threads)
    make_deterministic(deterministic)


def map_units(fn: Callable[..., Any], units: Sequence[tuple], processes: int = 1, *,
              threads: int | None = None, deterministic: bool = True) -> list[Any]:
    """``[fn(*u) for u in units]``, computed in ``processes`` worker processes; results in the order of ``units``.

    ``fn`` must be importable (a module-level function) and its arguments and result picklable. Units are
    handed out in the given order as workers become free, so put the longest first. ``threads``: torch's
    intra-op thread count in each worker (None: torch's default); ``deterministic``: as
    :func:`mtlnotes.repro.make_deterministic`. An exception in a unit is raised here.
    """
    if not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive int, got {processes!r}")
    units = [tuple(u) for u in units]
    if processes == 1 or len(units) <= 1:
        return [fn(*u) for u in units]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(processes, len(units)), mp_context=context,
                             initializer=_start_worker, initargs=(threads, deterministic)) as pool:
        futures = [pool.submit(fn, *u) for u in units]
        return [f.result() for f in futures]
