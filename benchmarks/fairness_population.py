"""Benchmark: seconds per generation of the fairness study (Zhang et al., ICANN 2021), old path vs fast path.

* old: :func:`mtlnotes.fairness.run_moel` — one run at a time, dense first layer (the reference);
* new: :func:`mtlnotes.fairness.run_moel_many` — ``--runs`` (variant, trial) runs advanced together as one
  program, first layer chosen by :func:`mtlnotes.fairness.first_layer_mode` (gather for sparse inputs).

Both run the chapter's real data and paper settings (:data:`mtlnotes.experiments.fairness.PAPER`: population
50, hidden 64/128/256, one epoch of Adam per partial training) for a few generations; the number reported is
CPU seconds of this process per run-generation (the clock other processes on the machine disturb least), and
the study's extrapolated CPU-hours: 4 variants × 15 trials × 500 generations per dataset.

    MTLNOTES_DATA=../shared/data python benchmarks/fairness_population.py [--threads 1] [--generations 3] [--runs 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import mtlnotes  # noqa: F401  (pins portable numerics before torch loads)
import torch

from mtlnotes.data.fairness_data import load_fairness_dataset, split_622
from mtlnotes.experiments.fairness import PAPER
from mtlnotes.fairness import TabularData, first_layer_mode, run_moel, run_moel_many


def _tab(part) -> TabularData:
    return TabularData(part.x, part.y, part.groups)


def _cpu_seconds(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--generations", type=int, default=3, help="generations timed per path (plus the initial one)")
    parser.add_argument("--runs", type=int, default=PAPER.runs_per_program, help="runs per program on the new path")
    parser.add_argument("--datasets", default="german,compas,adult")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    total_runs = len(PAPER.variants) * len(PAPER.seeds)
    print(f"{args.threads} thread(s); {args.generations} generations timed (+ the initial one); new path: {args.runs} "
          f"runs per program; CPU seconds per run-generation")
    print(f"{'dataset':8s} {'layer':>6s} {'old s':>8s} {'new s':>8s} {'speed-up':>9s} {'study old h':>12s} "
          f"{'study new h':>12s}")
    hours_old = hours_new = 0.0
    for name in args.datasets.split(","):
        split = split_622(load_fairness_dataset(name, download=False), PAPER.split_seed)
        settings = dataclasses.replace(PAPER.settings(name), generations=args.generations,
                                       record_every=PAPER.record_every)
        parts = (_tab(split.train), _tab(split.validation), _tab(split.test))
        old = _cpu_seconds(lambda: run_moel("F_EIG", settings, *parts, seed=0)) / (args.generations + 1)
        runs = [(v, seed) for seed in PAPER.seeds for v in PAPER.variants][:args.runs]
        new = _cpu_seconds(lambda: run_moel_many(runs, settings, *parts)) / (len(runs) * (args.generations + 1))
        study = total_runs * (PAPER.generations + 1) / 3600
        hours_old += old * study
        hours_new += new * study
        print(f"{name:8s} {first_layer_mode(split.train.x):>6s} {old:8.3f} {new:8.3f} {old / new:8.1f}x "
              f"{old * study:12.1f} {new * study:12.1f}")
    print(f"whole study: {hours_old:.1f} CPU-hours old, {hours_new:.1f} CPU-hours new "
          f"({hours_new / 2:.1f} h on 2 cores with one process per core)")


if __name__ == "__main__":
    main()
