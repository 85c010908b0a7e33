"""Benchmark: the weighting methods' small K×K solves with and without a busy neighbour process.

The K×K solves (Nash-MTL's Newton steps, MGDA's min-norm point, CAGrad's SLSQP, IMTL-G's linear system) are tiny;
with torch's intra-op threads and OpenBLAS's threads on, every parallel region waits for a worker, and when another
process keeps the cores busy that wait is a scheduler time slice (issue 16, item 6). ``--busy`` starts such a
process (torch matmuls on all cores) for the duration of the run. Reported: the median wall time per call (ms) of
``solve_nash_gram`` on a fixed Gram matrix and of each Gram-based aggregator's ``aggregate`` on G (K, d), with
torch at ``--threads`` threads.

Usage: ``python benchmarks/small_solves.py [--busy] [--ks 2,11,40] [--d 10000] [--calls 30] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import mtlnotes  # noqa: F401  (portable numerics, as everywhere in the book)
import numpy as np
import torch

from mtlnotes.weighting import make_method
from mtlnotes.weighting.nash import solve_nash_gram

_BUSY = ("import torch, time\ntorch.set_num_threads(2)\na = torch.randn(600, 600)\n"
         "while True:\n    a = torch.tanh(a @ a)\n")


def median_ms(fn, calls: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--busy", action="store_true", help="run a busy process beside the benchmark")
    p.add_argument("--ks", default="2,11,40")
    p.add_argument("--d", type=int, default=10_000)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default="Nash-MTL,MGDA,CAGrad,IMTL-G")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    busy = subprocess.Popen([sys.executable, "-c", _BUSY]) if args.busy else None
    rows = []
    try:
        if busy:
            time.sleep(1.0)
        for k in (int(s) for s in args.ks.split(",")):
            rng = np.random.default_rng(k)
            g = torch.tensor(rng.normal(size=(k, args.d)) * rng.uniform(0.5, 2.0, size=(k, 1))
                             + (rng.normal(size=(1, args.d)) if k > 2 else 0.0))  # 0 outside the hull
            m = (g @ g.T).numpy()
            row = {"K": k, "d": args.d, "busy": args.busy, "threads": args.threads,
                   "solve_nash_gram_ms": median_ms(lambda: solve_nash_gram(m), args.calls)}
            for name in args.methods.split(","):
                method = make_method(name, k)
                row[f"{name}_ms"] = median_ms(lambda: method.aggregate(g), args.calls)
            rows.append(row)
            print("  ".join(f"{key} {val:.3f}" if isinstance(val, float) else f"{key} {val}" for key, val in row.items()),
                  flush=True)
    finally:
        if busy:
            busy.kill()
            busy.wait()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
