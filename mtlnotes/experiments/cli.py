"""The command line every chapter shares.

``python -m mtlnotes.experiments.<chapter> --profile {quick,paper} [--out FILE] [--seeds 0,1,2]
[--device cuda] [--checkpoint-dir DIR]`` runs the chapter's ``run(config)`` and writes a results file
with provenance (see :mod:`mtlnotes.results`). Data that is missing gives a clear message and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mtlnotes.data.cache import DataError
from mtlnotes.repro import choose_device, make_deterministic, set_threads
from mtlnotes.results import Claim, results_dir, write_results

__all__ = ["run_cli"]


def run_cli(chapter: str, profiles: dict[str, Any], run: Callable[..., dict],
            claims: Callable[[dict, Any], list[Claim]], argv: Sequence[str] | None = None) -> Path | None:
    """Parse ``argv``, run the chosen profile's config and write its results file; returns its path.

    ``profiles`` maps profile names to frozen ``Config`` dataclasses that have ``seeds`` and ``profile``
    fields. ``run(config, device=..., checkpoint_dir=...)`` returns plain data; ``claims(results, config)``
    returns the chapter's claims.
    """
    parser = argparse.ArgumentParser(prog=f"python -m mtlnotes.experiments.{chapter}", description=__doc__)
    parser.add_argument("--profile", choices=sorted(profiles), default="quick")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: results/<chapter>-<profile>.json)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds overriding the profile's")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="store finished units here and resume from them after an interruption")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)

    config = profiles[args.profile]
    if args.seeds:
        try:
            seeds = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
        config = dataclasses.replace(config, seeds=seeds)
    out = args.out or results_dir() / f"{chapter}-{args.profile}.json"
    if args.threads is not None:
        # run() functions call set_threads() with no argument, which reads MTLNOTES_THREADS:
        # setting it here makes --threads hold for the whole run instead of being reset to 2.
        os.environ["MTLNOTES_THREADS"] = str(args.threads)
    set_threads(args.threads)
    make_deterministic(True)
    device = choose_device(args.device)

    start = time.perf_counter()
    try:
        results = run(config, device=device, checkpoint_dir=args.checkpoint_dir)
    except DataError as exc:
        print(f"error: the {args.profile} profile of '{chapter}' needs data that is not available here:\n{exc}",
              file=sys.stderr)
        raise SystemExit(2) from None
    wall = time.perf_counter() - start
    path = write_results(out, chapter=chapter, profile=args.profile, config=config, seeds=config.seeds,
                         results=results, claims=claims(results, config), wall_time_s=wall, device=device)
    print(f"wrote {path} ({wall:.1f} s)")
    return path
