"""Portable numerics: ``import mtlnotes`` pins CPU code paths, so training gives the same bits on other CPUs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtlnotes.numerics import PORTABLE_ENV

PROBE = Path(__file__).with_name("numerics_probe.py")
QEMU = shutil.which("qemu-x86_64")


def _qemu_runs_python() -> bool:
    """Whether this qemu-user can emulate a Haswell well enough to start Python (TCG gained AVX2 in qemu 7.2)."""
    if QEMU is None:
        return False
    try:
        done = subprocess.run([QEMU, "-cpu", "Haswell", sys.executable, "-c", "import numpy"],
                              capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


needs_qemu = pytest.mark.skipif(not _qemu_runs_python(),
                                reason="qemu-user missing or unable to emulate Haswell (.ci/run installs it when apt can)")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != "MTLNOTES_NATIVE_NUMERICS"}
    env.update(extra)
    return env


def _python(code: str, **extra: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=_env(**extra), capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _probe(*prefix: str, steps: int = 8, **extra: str) -> tuple[str, str]:
    out = subprocess.run([*prefix, sys.executable, str(PROBE), str(steps)], env=_env(**extra),
                         capture_output=True, text=True, check=True, timeout=600)
    capability, digest = out.stdout.split()
    return capability, digest


def test_import_pins_the_environment_and_atens_dispatch():
    code = ("import os, mtlnotes, torch; from mtlnotes.numerics import portable_numerics_active as a; "
            "torch.ones(2) + 1; print(os.environ['ATEN_CPU_CAPABILITY'], os.environ['MKL_CBWR'], "
            "os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['OPENBLAS_CORETYPE'], "
            "torch.backends.cpu.get_cpu_capability(), a())")
    assert _python(code).split() == ["avx2", "COMPATIBLE", "AVX2", "Haswell", "AVX2", "True"]


def test_numpy_imported_first_is_not_counted_as_portable():
    code = "import numpy, mtlnotes, torch; from mtlnotes.numerics import portable_numerics_active as a; print(a())"
    native = _python("import torch; print(torch.backends.cpu.get_cpu_capability())", MTLNOTES_NATIVE_NUMERICS="1")
    if native == "AVX2":
        pytest.skip("this CPU has no AVX-512: numpy's dispatch is the portable one anyway")
    assert _python(code) == "False"
    inherited = dict(PORTABLE_ENV)  # a child process of one that imported mtlnotes: fine in any order
    assert _python(code, **inherited) == "True"


def test_explicit_user_settings_win():
    code = "import os, mtlnotes; print(os.environ['MKL_CBWR'])"
    assert _python(code, MKL_CBWR="AUTO") == "AUTO"


def test_opt_out_leaves_torch_native():
    code = ("import os, mtlnotes, torch; from mtlnotes.numerics import portable_numerics_active as a; "
            "print('ATEN_CPU_CAPABILITY' in os.environ, a())")
    assert _python(code, MTLNOTES_NATIVE_NUMERICS="1").split() == ["False", "False"]


def test_torch_used_before_import_is_detected_and_warned():
    code = ("import warnings, torch; torch.ones(2) + 1; import mtlnotes; "
            "from mtlnotes.numerics import check_portable_numerics as c; "
            "warnings.simplefilter('error'); "
            "exec('try:\\n c(); print(\"no warning\")\\nexcept RuntimeWarning: print(\"warned\")')")
    native = _python("import torch; print(torch.backends.cpu.get_cpu_capability())", MTLNOTES_NATIVE_NUMERICS="1")
    expected = "no warning" if native == "AVX2" else "warned"
    assert _python(code) == expected


def test_training_is_repeatable_in_fresh_processes():
    assert _probe() == _probe()


@needs_qemu
def test_same_bits_on_an_emulated_intel_haswell_cpu():
    """The whole point: an AVX2-only Intel CPU (emulated) computes the same bits as this machine."""
    native = _probe()
    emulated = _probe(QEMU, "-cpu", "Haswell")
    assert emulated == native


@needs_qemu
def test_without_pinning_the_emulated_cpu_differs_when_this_one_has_avx512():
    """Control for the test above: it can fail. Unpinned, AVX-512 and AVX2 kernels sum differently."""
    capability, native = _probe(MTLNOTES_NATIVE_NUMERICS="1")
    if capability != "AVX512":
        pytest.skip(f"this CPU dispatches {capability}, the same path Haswell takes")
    _, emulated = _probe(QEMU, "-cpu", "Haswell", MTLNOTES_NATIVE_NUMERICS="1")
    assert emulated != native


def test_shell_exports_round_trip_through_bash():
    exports = _python("from mtlnotes.numerics import shell_exports; print(shell_exports())")
    keys = " ".join(f"${k}" for k in PORTABLE_ENV)
    out = subprocess.run(["bash", "-c", f'{exports}\necho "{keys}"'], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == " ".join(PORTABLE_ENV.values())
