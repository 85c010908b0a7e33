"""Training cost of routing networks (Rosenbaum et al., 2018, Figures 13/15 and §4).

1. Per-task training cost (time per training sample = per-epoch time / number of tasks when every task has
   the same number of samples) of routing-all-fc and cross-stitch-all-fc with 2, 5, 10 and 20 tasks, one
   block (column) per task per layer, on random 28×28 inputs (timings do not depend on pixel values).
2. Throughput of a routed training step (WPL router, 10 blocks per layer) relative to the same trunk and fc
   layers with one static block per layer.

    python benchmarks/routing_cost.py [--batches 20] [--threads 2] [--hidden 128]

Timings are wall clock; run on a quiet machine. Each point is the median of ``--repeats`` measurements.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlnotes.experiments.routing import step_cost
from mtlnotes.models import SimpleConvNet
from mtlnotes.repro import set_threads
from mtlnotes.routing import CollaborationReward, RoutedFC, RoutingNetwork, StaticRouter, build_network, train_step


def static_vs_routed(hidden: int, batches: int, n_tasks: int = 10, batch_size: int = 100) -> dict:
    """Seconds per sample of a training step: static (one block per layer) vs routed (WPL, n_tasks blocks)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 1, 28, 28, generator=gen)
    y = torch.randint(0, 2, (batch_size,), generator=gen)
    task = torch.randint(0, n_tasks, (batch_size,), generator=gen)
    trunk = SimpleConvNet(1)
    fc = RoutedFC(trunk.out_features((1, 28, 28)), hidden, 2, 1)
    static = RoutingNetwork(trunk, fc, StaticRouter(fc.n_actions, n_tasks, [0, 0, 0]))
    routed = build_network("routing-all-fc", n_tasks, (1, 28, 28), 2, hidden)
    out = {}
    for name, net in (("static", static), ("routed", routed)):
        opt = torch.optim.SGD(net.block_parameters(), lr=0.01)
        collab = CollaborationReward(net.fc.n_actions, 0.3)
        train_step(net, opt, x, y, task, collab, generator=gen)  # warm-up
        t0 = time.perf_counter()
        for _ in range(batches):
            train_step(net, opt, x, y, task, collab, generator=gen)
        out[name] = (time.perf_counter() - t0) / (batches * batch_size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--tasks", default="2,5,10,20")
    args = parser.parse_args()
    set_threads(args.threads)
    tasks = [int(k) for k in args.tasks.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, hidden {args.hidden}")
    print("per-sample training time (ms), median of", args.repeats)
    base = {}
    for name in ("routing-all-fc", "cross-stitch-all-fc"):
        row = []
        for k in tasks:
            row.append(statistics.median(step_cost(name, k, hidden=args.hidden, batches=args.batches, seed=r)
                                         for r in range(args.repeats)))
        base[name] = row
        print(f"  {name:22s} " + "  ".join(f"{k:2d} tasks {1e3 * s:7.3f}" for k, s in zip(tasks, row))
              + f"   ratio {tasks[-1]}/{tasks[0]} tasks: {row[-1] / row[0]:.2f}")
    sv = [static_vs_routed(args.hidden, args.batches) for _ in range(args.repeats)]
    static = statistics.median(s["static"] for s in sv)
    routed = statistics.median(s["routed"] for s in sv)
    print(f"static one-block step {1e3 * static:.3f} ms/sample, routed (10 blocks, WPL) {1e3 * routed:.3f} ms/sample,"
          f" routed throughput = {static / routed:.2f} x static")


if __name__ == "__main__":
    main()
