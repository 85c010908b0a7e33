"""Compute chosen units (method × seed) of a chapter-3 (RL-AUX) profile into a checkpoint directory, in the order
given.

The CLI's ``--worker`` takes units in the chapter's order (seed by seed, every method); this takes them in yours
(e.g. the cheap methods of every seed first, when a long run must be spread over several sessions). Each unit is
:func:`mtlnotes.experiments.rl_aux.train_unit`, as in
``python -m mtlnotes.experiments.rl_aux --profile P --checkpoint-dir DIR``, which then reads them; a unit stopped
part-way resumes from its last finished epoch.

``python benchmarks/rl_aux_units.py --profile full --checkpoint-dir DIR --units single:0,maxl:1 [--device cpu]``
"""

from __future__ import annotations

import time

import mtlnotes  # noqa: F401  (first: pins the portable CPU kernels before torch runs anything)
from mtlnotes.experiments.rl_aux import PROFILES, load_task, train_unit
from mtlnotes.repro import make_deterministic, set_threads
from unit_args import parse_units, unit_parser  # benchmarks/unit_args.py


def main(argv: list[str] | None = None) -> None:
    parser = unit_parser(__doc__.split("\n\n")[0], PROFILES)
    args = parser.parse_args(argv)
    config = PROFILES[args.profile]
    units = parse_units(args.units, config.methods, config.seeds)
    set_threads(config.threads)          # as run() does: the profile's thread count
    make_deterministic(True)             # as the CLI does
    splits = load_task(config)
    for method, seed in units:
        start = time.perf_counter()
        train_unit(method, seed, config.aux_weight, splits, config, args.device, args.checkpoint_dir)
        print(f"{method} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
