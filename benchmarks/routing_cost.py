"""Training cost of routing networks (Rosenbaum et al., 2018, Figures 13/15 and §4).

1. Per-task training cost (time per training sample = per-epoch time / number of tasks when every task has
   the same number of samples) of routing-all-fc and cross-stitch-all-fc with 2, 5, 10 and 20 tasks, one
   block (column) per task per layer, on random 28×28 inputs (timings do not depend on pixel values).
   Target (issue #5): routing's cost at 20 tasks ≤ 1.3 × its cost at 2 tasks.
2. Throughput of a routed training step (WPL router, 10 blocks per layer, collaboration reward) relative to
   the same trunk and fc layers with one static block per layer. Target: ≥ 0.6 × the static throughput.

    python benchmarks/routing_cost.py [--batches 10] [--repeats 5] [--threads 2] [--hidden 128]

Timings are wall clock (``--clock cpu``: CPU time of the process). On a shared machine they are noisy, so every repeat measures *all* configurations
in turn (interleaved, so that a change of load hits all of them alike) and each number is the median over
the repeats. The load average before and after the run is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from mtlnotes.experiments.routing import step_cost
from mtlnotes.models import SimpleConvNet
from mtlnotes.repro import set_threads
from mtlnotes.routing import CollaborationReward, RoutedFC, RoutingNetwork, StaticRouter, build_network, train_step


def static_vs_routed(hidden: int, batches: int, n_tasks: int = 10, batch_size: int = 100,
                     seed: int = 0, clock=time.perf_counter) -> dict:
    """Seconds per sample of a training step: static (one block per layer) vs routed (WPL, n_tasks blocks),
    measured alternately step by step over ``batches`` steps each, after one warm-up step each."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, 1, 28, 28, generator=gen)
    y = torch.randint(0, 2, (batch_size,), generator=gen)
    task = torch.randint(0, n_tasks, (batch_size,), generator=gen)
    trunk = SimpleConvNet(1)
    fc = RoutedFC(trunk.out_features((1, 28, 28)), hidden, 2, 1)
    nets = {"static": RoutingNetwork(trunk, fc, StaticRouter(fc.n_actions, n_tasks, [0, 0, 0])),
            "routed": build_network("routing-all-fc", n_tasks, (1, 28, 28), 2, hidden)}
    state = {}
    for name, net in nets.items():
        opt = torch.optim.SGD(net.block_parameters(), lr=0.01)
        collab = CollaborationReward(net.fc.n_actions, 0.3)
        train_step(net, opt, x, y, task, collab, generator=gen)  # warm-up
        state[name] = (net, opt, collab)
    elapsed = {name: [] for name in nets}
    for _ in range(batches):
        for name, (net, opt, collab) in state.items():
            t0 = clock()
            train_step(net, opt, x, y, task, collab, generator=gen)
            elapsed[name].append(clock() - t0)
    return {name: statistics.median(e) / batch_size for name, e in elapsed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10, help="timed training steps per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per configuration (median)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--tasks", default="2,5,10,20")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall clock, or CPU time of this process (with --threads 1 it is much less "
                             "sensitive to other jobs on a shared machine)")
    args = parser.parse_args()
    set_threads(args.threads)
    tasks = [int(k) for k in args.tasks.split(",")]
    names = ("routing-all-fc", "cross-stitch-all-fc")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, hidden {args.hidden}, "
          f"{args.batches} steps of 100 samples per measurement, median of {args.repeats} repeats, "
          f"{args.clock} clock")
    cost = {(n, k): [] for n in names for k in tasks}
    sv = {"static": [], "routed": []}
    t_start = time.perf_counter()
    for r in range(args.repeats):
        for k in tasks:
            for n in names:
                cost[n, k].append(step_cost(n, k, hidden=args.hidden, batches=args.batches, seed=r, clock=clock))
        for key, value in static_vs_routed(args.hidden, args.batches, seed=r, clock=clock).items():
            sv[key].append(value)
    med = {key: statistics.median(v) for key, v in cost.items()}
    print("per-sample training time (ms); ratio = cost at the most tasks / cost at the fewest")
    for n in names:
        row = [med[n, k] for k in tasks]
        print(f"  {n:22s} " + "  ".join(f"{k:2d} tasks {1e3 * s:7.3f}" for k, s in zip(tasks, row))
              + f"   ratio {tasks[-1]}/{tasks[0]} tasks: {row[-1] / row[0]:.2f}")
    # the ratio per repeat too (both points of a repeat ran a few seconds apart, under similar load)
    for n in names:
        per = [cost[n, tasks[-1]][r] / cost[n, tasks[0]][r] for r in range(args.repeats)]
        print(f"  {n:22s} ratio per repeat: {', '.join(f'{p:.2f}' for p in per)}; median {statistics.median(per):.2f}")
    static, routed = statistics.median(sv["static"]), statistics.median(sv["routed"])
    per = [s / t for s, t in zip(sv["static"], sv["routed"])]
    print(f"static one-block step {1e3 * static:.3f} ms/sample, routed (10 blocks, WPL) {1e3 * routed:.3f} ms/sample,"
          f" routed throughput = {static / routed:.2f} x static (per repeat: {', '.join(f'{p:.2f}' for p in per)})")
    print(f"wall time {time.perf_counter() - t_start:.0f} s; load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.2f}' for x in load0)}, after {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
