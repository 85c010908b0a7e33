"""Portable CPU numerics: the same bits on every x86-64 machine, not only on the one that ran first.

Why: torch and NumPy pick CPU kernels by instruction set at run time. ATen dispatches to AVX-512,
AVX2 or scalar code; MKL and oneDNN (matmuls, convolutions) pick their own paths; NumPy's ufuncs
(``exp``, ``log``, reductions) and the OpenBLAS it and SciPy ship do the same. The paths round and sum
in different orders, so a model trained for many steps ends up elsewhere on an AVX-512 machine than on
an AVX2 one. The notebooks' stored outputs are checked bit for bit by nbval on whatever machine CI
has, so ``import mtlnotes`` pins every library to code paths that any x86-64 server of the last
decade has (AVX2 + FMA, "x86-64-v3"):

* ``ATEN_CPU_CAPABILITY=avx2``: ATen's vectorised kernels (read when torch runs its first op);
* ``MKL_CBWR=COMPATIBLE``: MKL's "conditional numerical reproducibility" branch (read when MKL starts);
* ``ONEDNN_MAX_CPU_ISA=AVX2``: oneDNN's JIT kernels (read when oneDNN starts);
* ``NPY_DISABLE_CPU_FEATURES``: NumPy's AVX-512 ufunc loops off (read when NumPy is imported);
* ``OPENBLAS_CORETYPE=Haswell``: OpenBLAS's AVX2 kernels (read when NumPy/SciPy load OpenBLAS).

NumPy reads its variables at import, so ``import mtlnotes`` must come before ``import numpy``
(or pandas, matplotlib...) in a fresh process; the notebooks start that way, and processes started
from one that imported mtlnotes (e.g. nbval's kernels) inherit the variables.

With these and a fixed thread count (:func:`mtlnotes.repro.set_threads`), ``tests/test_numerics.py``
trains a small CNN and runs NumPy/SciPy linear algebra natively and under an emulated Intel Haswell
CPU (qemu-user) and gets identical bits; without them the two differ. Set
``MTLNOTES_NATIVE_NUMERICS=1`` before importing mtlnotes to opt out, e.g. for long CPU runs where
machine-to-machine identity does not matter. GPU kernels are unaffected.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["PORTABLE_ENV", "pin_portable_numerics", "portable_numerics_active", "check_portable_numerics",
           "shell_exports"]

#: Environment variables pinned at import time (only where the user has not set them already).
PORTABLE_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # numpy >= 2.4 groups AVX-512 as X86_V4 (+ AVX512_ICL/SPR); older numpy names them one by one.
    # Names a numpy version does not know are ignored by it.
    "NPY_DISABLE_CPU_FEATURES": ("X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_KNL AVX512_KNM "
                                 "AVX512_SKX AVX512_CLX AVX512_CNL AVX512_FP16"),
    "OPENBLAS_CORETYPE": "Haswell",
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


def _numpy_avx512_active() -> bool:
    """Whether NumPy dispatches any of its AVX-512 ufunc targets (the ones NPY_DISABLE_CPU_FEATURES turns off)."""
    import numpy as np

    try:
        umath = np._core._multiarray_umath  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        umath = np.core._multiarray_umath
    pinned_off = set(PORTABLE_ENV["NPY_DISABLE_CPU_FEATURES"].split())
    return any(umath.__cpu_features__.get(t, False) for t in umath.__cpu_dispatch__ if t in pinned_off)


def portable_numerics_active() -> bool:
    """True when torch's ATen kernels run at the pinned capability (AVX2) and NumPy's AVX-512 loops are off.

    False when opted out, or when torch ran an op (or NumPy was imported) before ``import mtlnotes`` in
    this process, without the variables inherited from a parent: then results repeat on this kind of
    CPU only. MKL, oneDNN and OpenBLAS cannot be queried cheaply; they read their variables at start-up,
    which ``import mtlnotes`` precedes in the same cases.
    """
    if _opted_out() or "torch" not in sys.modules:
        return False
    import torch

    if torch.backends.cpu.get_cpu_capability() != PORTABLE_ENV["ATEN_CPU_CAPABILITY"].upper():
        return False
    return not _numpy_avx512_active()


def check_portable_numerics() -> bool:
    """Warn (once per call site) if numerics are not portable although the user did not opt out."""
    active = portable_numerics_active()
    if not active and not _opted_out():
        warnings.warn(
            "torch ran CPU ops (or numpy was imported) before `import mtlnotes`, so their kernels are not pinned "
            "to portable code paths: "
            "results will repeat on this machine but may differ in the last bits elsewhere. Import mtlnotes "
            f"first, or set {_OPT_OUT}=1 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
    return active



def shell_exports() -> str:
    """The pins as ``export K=V`` lines, for a shell: ``eval "$(python -c '...print(shell_exports())')"``."""
    import shlex

    return "\n".join(f"export {k}={shlex.quote(os.environ.get(k, v))}" for k, v in PORTABLE_ENV.items())
