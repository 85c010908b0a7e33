"""Benchmark: one partial-training step (one Adam minibatch step) of a population of 50 one-hidden-layer MLPs,
batched (:class:`mtlnotes.fairness.MLPPopulation`, stacked tensors + batched matmul) vs a Python loop over 50
``nn.Module``s with one Adam each (:class:`mtlnotes.fairness.LoopPopulation`).

Shapes are the chapter's (Zhang et al., ICANN 2021, §4.1): German 60 -> 64, COMPAS 407 -> 128, Adult 101 -> 256
(input widths after our Friedler-style preprocessing), minibatch 500. Synthetic inputs of those shapes (timing
only). Reports the median over repeats of CPU-time-free wall clock per step.

    python benchmarks/fairness_population.py [--threads 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mtlnotes.fairness import LoopPopulation, MLPPopulation

SHAPES = {"german": (60, 64), "compas": (407, 128), "adult": (101, 256)}


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--pop", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"population {args.pop}, minibatch {args.batch}, {args.threads} threads, median of {args.repeats}")
    print(f"{'dataset':8s} {'d->h':>9s} {'batched ms':>11s} {'loop ms':>9s} {'speed-up':>9s}")
    for name, (d, h) in SHAPES.items():
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(args.batch, d, generator=gen)
        y = (torch.rand(args.batch, generator=gen) < 0.5).float()
        pop = MLPPopulation.glorot(args.pop, d, h, gen)
        loop = LoopPopulation(pop.to_modules())
        # one epoch over exactly one minibatch = one Adam step per model
        t_b = _median_time(lambda: pop.partial_train(x, y, 0.01, args.batch, 1, torch.Generator().manual_seed(1)),
                           args.repeats)
        t_l = _median_time(lambda: loop.partial_train(x, y, 0.01, args.batch, 1, torch.Generator().manual_seed(1)),
                           args.repeats)
        print(f"{name:8s} {d:>4d}->{h:<4d} {1e3 * t_b:11.2f} {1e3 * t_l:9.2f} {t_l / t_b:8.1f}x")


if __name__ == "__main__":
    main()
