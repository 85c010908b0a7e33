"""Portable CPU numerics: the same bits on every x86-64 machine, not only on the one that ran first.

Why: torch picks CPU kernels by instruction set at run time. ATen dispatches to AVX-512, AVX2 or
scalar code; MKL and oneDNN (used for matmuls and convolutions) pick their own code paths. The paths
sum in different orders, so a model trained for many steps ends up in a different place on an AVX-512
machine than on an AVX2 one. The notebooks' stored outputs are checked bit for bit by nbval on
whatever machine CI has, so ``import mtlnotes`` pins all three libraries to code paths that every
x86-64 server from the last decade has:

* ``ATEN_CPU_CAPABILITY=avx2``: ATen's vectorised kernels (read when the first op runs);
* ``MKL_CBWR=COMPATIBLE``: MKL's "conditional numerical reproducibility" branch (read when MKL starts);
* ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's JIT kernels (read when oneDNN starts).

With these and a fixed thread count (:func:`mtlnotes.repro.set_threads`), ``tests/test_numerics.py``
trains a small CNN natively and under an emulated Intel Haswell CPU (qemu-user) and gets identical
weights; without them the two differ. On small CPU models the cost is small (measured in the book's
reproducibility page). Set ``MTLNOTES_NATIVE_NUMERICS=1`` before importing mtlnotes to opt out,
e.g. for long CPU runs where machine-to-machine identity does not matter. GPU runs are unaffected.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["PORTABLE_ENV", "pin_portable_numerics", "portable_numerics_active", "check_portable_numerics"]

#: Environment variables pinned at import time (only where the user has not set them already).
PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}

_OPT_OUT = "MTLNOTES_NATIVE_NUMERICS"


def _opted_out() -> bool:
    return os.environ.get(_OPT_OUT, "").strip().lower() in {"1", "true", "yes", "on"}


def pin_portable_numerics() -> None:
    """Set :data:`PORTABLE_ENV` in ``os.environ`` (``setdefault``: explicit user settings win).

    Must run before torch executes its first CPU op; ``mtlnotes/__init__.py`` calls it on import.
    Subprocesses (e.g. the Jupyter kernels nbval starts) inherit the variables.
    """
    if _opted_out():
        return
    for key, value in PORTABLE_ENV.items():
        os.environ.setdefault(key, value)


def portable_numerics_active() -> bool:
    """True when torch's ATen kernels run at the pinned capability (AVX2).

    False when opted out, or when torch ran an op before ``import mtlnotes`` and so had already
    fixed its dispatch (then results match this machine only). Only ATen can be queried; MKL and
    oneDNN read their variables at start-up, which ``import mtlnotes`` precedes in the same cases.
    """
    if _opted_out() or "torch" not in sys.modules:
        return False
    import torch

    return torch.backends.cpu.get_cpu_capability() == PORTABLE_ENV["ATEN_CPU_CAPABILITY"].upper()


def check_portable_numerics() -> bool:
    """Warn (once per call site) if numerics are not portable although the user did not opt out."""
    active = portable_numerics_active()
    if not active and not _opted_out():
        warnings.warn(
            "torch ran CPU ops before `import mtlnotes`, so its kernels are not pinned to portable code paths: "
            "results will repeat on this machine but may differ in the last bits elsewhere. Import mtlnotes "
            f"first, or set {_OPT_OUT}=1 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
    return active
