"""Benchmark: per-task gradients of a shared trunk, the reference loop vs the fast (vmap) path.

``mtlnotes.gradients.shared_trunk_gradients`` with ``method="reference"`` (K backward passes through the trunk)
and ``method="vmap"`` (heads differentiated per task, then one vectorised VJP through the trunk), plus the
generic ``per_task_gradients(..., method="batched")`` (``is_grads_batched``) for comparison. Trunks: the
MultiLeNet encoder (MultiMNIST, batch 256) and a 3-layer MLP (batch 128). Median CPU-process time over
``--reps`` calls, after warm-up. Target (issue #4): fast ≤ 0.6 × reference at K ≥ 4.

Usage: ``python benchmarks/gradients_engine.py [--reps 15] [--ks 2,4,8,11] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from mtlnotes.gradients import per_task_gradients, shared_trunk_gradients
from mtlnotes.models import MLP, MultiLeNetEncoder


def _setup(trunk_name: str, k: int):
    gen = torch.Generator().manual_seed(0)
    if trunk_name == "multilenet":
        trunk, h, x = MultiLeNetEncoder(50), 50, torch.rand(256, 1, 28, 28, generator=gen)
    else:
        trunk, h, x = MLP([64, 256, 256, 128]), 128, torch.randn(128, 64, generator=gen)
    heads = [nn.Linear(h, 10) for _ in range(k)]
    y = torch.randint(10, (x.shape[0],), generator=gen)

    def task_losses(z):
        return torch.stack([nn.functional.cross_entropy(head(z), y) for head in heads])

    return trunk, x, task_losses


def _time(fn, reps: int, clock) -> float:
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t = clock()
        fn()
        ts.append(clock() - t)
    return float(np.median(ts))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--ks", default="2,4,8,11")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=["process", "wall"], default="process")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    rows = []
    for trunk_name in ("multilenet", "mlp"):
        for k in (int(s) for s in args.ks.split(",")):
            trunk, x, task_losses = _setup(trunk_name, k)
            ref = _time(lambda: shared_trunk_gradients(trunk, x, task_losses, "reference"), args.reps, clock)
            fast = _time(lambda: shared_trunk_gradients(trunk, x, task_losses, "vmap"), args.reps, clock)
            params = list(trunk.parameters())
            batched = _time(lambda: per_task_gradients(task_losses(trunk(x)), params, "batched", retain_graph=False),
                            args.reps, clock)
            plain = _time(lambda: per_task_gradients(task_losses(trunk(x)), params, "reference", retain_graph=False),
                          args.reps, clock)
            row = {"trunk": trunk_name, "K": k, "reference_ms": 1e3 * ref, "vmap_ms": 1e3 * fast,
                   "ratio": fast / ref, "generic_reference_ms": 1e3 * plain, "generic_batched_ms": 1e3 * batched}
            rows.append(row)
            print(f"{trunk_name:10s} K={k:2d}  reference {row['reference_ms']:7.1f} ms  vmap {row['vmap_ms']:7.1f} ms "
                  f"(ratio {row['ratio']:.2f})  generic loop {row['generic_reference_ms']:7.1f} ms  "
                  f"is_grads_batched {row['generic_batched_ms']:7.1f} ms", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
