"""Compute chosen MultiMNIST units of a chapter-4 profile into a checkpoint directory, in the order given.

The CLI's ``--worker`` takes units in the chapter's order; this takes them in yours (e.g. Nash-MTL and the
single-task baselines first, when a long run must be spread over several sessions). Each unit is the same
:func:`mtlnotes.weighting.benchmarks.train_multimnist_unit` under the same key and fingerprint as
``python -m mtlnotes.experiments.nash_mtl --profile P --checkpoint-dir DIR``, which then reads them.

``python benchmarks/multimnist_units.py --profile full --checkpoint-dir DIR --units Nash-MTL:0,STL-0:1 [--device cpu]``
"""

from __future__ import annotations

import dataclasses
import time

import mtlnotes  # noqa: F401  (first: pins the portable CPU kernels before torch runs anything)
from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.experiments.nash_mtl import PROFILES
from mtlnotes.repro import make_deterministic, set_threads
from mtlnotes.weighting.benchmarks import (multimnist_data, multimnist_unit_key, multimnist_unit_names,
                                           train_multimnist_unit)
from unit_args import parse_units, unit_parser  # benchmarks/unit_args.py


def main(argv: list[str] | None = None) -> None:
    parser = unit_parser(__doc__.split("\n\n")[0], PROFILES)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    config = PROFILES[args.profile]
    units = parse_units(args.units, multimnist_unit_names(config))
    set_threads(args.threads)
    make_deterministic(True)
    store = CheckpointStore(args.checkpoint_dir, fingerprint=dataclasses.asdict(config))
    data = multimnist_data(config)
    for name, seed in units:
        start = time.perf_counter()
        store.get_or_compute(multimnist_unit_key(name, seed),
                             lambda: train_multimnist_unit(config, name, data, seed, args.device))
        print(f"{name} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
