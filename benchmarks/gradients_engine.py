"""Benchmark: per-task gradients of a shared trunk, the reference loop vs the fast paths, with a cost breakdown.

``mtlnotes.gradients.shared_trunk_gradients`` with ``engine="reference"`` (K backward passes through the trunk),
``engine="layerwise"`` (the fast path on CPU: one hand-written backward with the K tasks batched,
``mtlnotes.gradients._layerwise``) and ``engine="vmap"`` (one vectorised VJP through the trunk), plus the generic
``per_task_gradients(..., engine="vmap")`` (``is_grads_batched``). Trunk: the MultiLeNet encoder of the chapter
at batch 100 and 256 (the quick profile's); heads: one linear layer per task. Target (issue #4): fast ≤ 0.6 ×
reference at K ≥ 4.

The measurements are interleaved (reference, vmap, batched, breakdown parts, reference, ...) so that a load change
on a shared machine hits every variant alike; medians over ``--reps`` rounds of CPU-process time (``--clock wall``
for wall time). The breakdown explains the ratio: with F the trunk forward, H the heads' part (forward + K small
backward passes to ∂L_k/∂z) and b the trunk backward for one task, the reference costs F + H + K·b and the vmap path
F' + H + T_K, T_K the batched VJP of K cotangents. torch's batching rules loop over the K cotangents in the
convolution and max-pool backward kernels, so T_K ≈ K·b on the CPU; the layerwise path shares the saved inputs,
masks and arg-max across tasks, batches the K cotangents through each layer and gets each convolution's weight
gradients for all tasks from one forward convolution (see ``mtlnotes.gradients._layerwise``). The floor of any method is
(F + H)/(F + H + K·b).

Usage: ``python benchmarks/gradients_engine.py [--reps 25] [--ks 2,4,8,11] [--batches 100,256] [--threads 2]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

import mtlnotes  # noqa: F401  (portable numerics, as everywhere in the book)
from mtlnotes.gradients import per_task_gradients, shared_trunk_gradients
from mtlnotes.models import MultiLeNetEncoder


def _setup(batch: int, k: int):
    gen = torch.Generator().manual_seed(0)
    trunk, x = MultiLeNetEncoder(50), torch.rand(batch, 1, 28, 28, generator=gen)
    heads = [nn.Linear(50, 10) for _ in range(k)]
    y = torch.randint(10, (batch,), generator=gen)

    def task_losses(z):
        return torch.stack([nn.functional.cross_entropy(head(z), y) for head in heads])

    return trunk, x, task_losses


def _parts(trunk, x, task_losses):
    """Callables for the breakdown: trunk forward (autograd), heads' part, one trunk backward, the batched VJP."""
    params = tuple(trunk.parameters())
    names = [n for n, _ in trunk.named_parameters()]
    z = trunk(x)
    z_leaf = z.detach().requires_grad_(True)
    losses = task_losses(z_leaf)
    k = losses.shape[0]
    rep = per_task_gradients(losses, [z_leaf], engine="reference").reshape(k, *z.shape)
    _, vjp_fn = vjp(lambda *ps: functional_call(trunk, dict(zip(names, ps)), (x,)), *params)

    def heads():
        zl = z.detach().requires_grad_(True)
        per_task_gradients(task_losses(zl), [zl], engine="reference", retain_graph=False)

    return {
        "forward": lambda: trunk(x),
        "heads": heads,
        "one_backward": lambda: torch.autograd.grad(z, params, rep[0], retain_graph=True),
        "batched_vjp": lambda: vmap(vjp_fn)(rep),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=25)
    p.add_argument("--ks", default="2,4,8,11")
    p.add_argument("--batches", default="100,256")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=["process", "wall"], default="process")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    rows = []
    for batch in (int(s) for s in args.batches.split(",")):
        for k in (int(s) for s in args.ks.split(",")):
            trunk, x, task_losses = _setup(batch, k)
            params = list(trunk.parameters())
            fns = {"reference": lambda: shared_trunk_gradients(trunk, x, task_losses, "reference"),
                   "layerwise": lambda: shared_trunk_gradients(trunk, x, task_losses, "layerwise"),
                   "vmap": lambda: shared_trunk_gradients(trunk, x, task_losses, "vmap"),
                   "is_grads_batched": lambda: per_task_gradients(task_losses(trunk(x)), params, "vmap",
                                                                  retain_graph=False),
                   **_parts(trunk, x, task_losses)}
            for fn in fns.values():  # warm-up
                fn()
                fn()
            times = {name: [] for name in fns}
            for _ in range(args.reps):
                for name, fn in fns.items():
                    t = clock()
                    fn()
                    times[name].append(clock() - t)
            med = {name: 1e3 * float(np.median(v)) for name, v in times.items()}
            row = {"batch": batch, "K": k, **{f"{n}_ms": v for n, v in med.items()},
                   "ratio_layerwise": med["layerwise"] / med["reference"],
                   "ratio_vmap": med["vmap"] / med["reference"],
                   "ratio_is_grads_batched": med["is_grads_batched"] / med["reference"],
                   "floor": (med["forward"] + med["heads"]) / (med["forward"] + med["heads"] + k * med["one_backward"]),
                   "vjp_efficiency": med["batched_vjp"] / (k * med["one_backward"])}
            rows.append(row)
            print(f"B={batch:3d} K={k:2d}  reference {med['reference']:7.1f} ms  layerwise {med['layerwise']:7.1f} ms "
                  f"(ratio {row['ratio_layerwise']:.2f})  vmap {med['vmap']:7.1f} ms "
                  f"(ratio {row['ratio_vmap']:.2f})  is_grads_batched {med['is_grads_batched']:7.1f} ms "
                  f"(ratio {row['ratio_is_grads_batched']:.2f}) | forward {med['forward']:.1f}  heads "
                  f"{med['heads']:.1f}  one backward {med['one_backward']:.1f}  batched VJP {med['batched_vjp']:.1f} "
                  f"(= {row['vjp_efficiency']:.2f} × K backward)  floor {row['floor']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"clock": args.clock, "threads": args.threads, "reps": args.reps, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
