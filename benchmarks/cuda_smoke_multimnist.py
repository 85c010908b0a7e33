"""Before a long GPU run of chapter 4's MultiMNIST: train every method (and the single-task baseline) for one
epoch on a small MultiMNIST sample on the GPU, check that the losses and accuracies are finite, and time a step.

CI has no GPU, so the CUDA path of :func:`mtlnotes.weighting.benchmarks.train_multimnist_unit` is checked here, at the
start of the device run, rather than in the test suite. Exits 1 (naming the methods) if any method fails.

``python benchmarks/cuda_smoke_multimnist.py [--device cuda]``
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import traceback

import mtlnotes  # noqa: F401  (first: pins the portable CPU kernels before torch runs anything)
import torch
from mtlnotes.experiments.nash_mtl import FULL
from mtlnotes.repro import device_label, make_deterministic, set_threads
from mtlnotes.weighting.benchmarks import multimnist_data, multimnist_unit_names, train_multimnist_unit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    set_threads(1)
    make_deterministic(True)
    device = torch.device(args.device)
    config = dataclasses.replace(FULL, mm_train=5120, mm_val=512, mm_test=512, mm_epochs=1)
    data = multimnist_data(config)
    print(f"torch {torch.__version__} on {device_label(device)}; MultiMNIST sample "
          f"{config.mm_train}/{config.mm_val}/{config.mm_test}, batch {config.mm_batch}, one epoch", flush=True)
    failed = []
    for name in multimnist_unit_names(config):  # every method, then the single-task baselines STL-0, STL-1
        start = time.perf_counter()
        try:
            out = train_multimnist_unit(config, name, data, 0, device)
            loss = out["curve"][-1]["train_loss"]
            ok = all(math.isfinite(v) for v in loss + out["test_acc"])
            steps = math.ceil(config.mm_train / config.mm_batch)
            print(f"{name:9s}: {'ok' if ok else 'NOT FINITE'}; train loss {loss}, test acc "
                  f"{out['test_acc']}, {1e3 * out['time_per_epoch_s'] / steps:.1f} ms/step, "
                  f"{time.perf_counter() - start:.1f} s in all", flush=True)
            if not ok:
                failed.append(name)
        except Exception:  # report every method's failure, not only the first
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
