"""The command line shared by the scripts that compute chosen units of a chapter's run (``multimnist_units.py``,
``rl_aux_units.py``): ``--profile``, ``--checkpoint-dir``, ``--units NAME:SEED,...`` and ``--device``."""

from __future__ import annotations

import argparse
from collections.abc import Collection, Sequence


def unit_parser(description: str, profiles: Collection[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="full", choices=sorted(profiles))
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--units", required=True, help="comma-separated NAME:SEED")
    parser.add_argument("--device", default="cpu")
    return parser


def parse_units(text: str, names: Sequence[str], seeds: Collection[int] | None = None) -> list[tuple[str, int]]:
    """``"Nash-MTL:0,STL-0:1"`` -> [("Nash-MTL", 0), ("STL-0", 1)], checked against the profile's unit names (and
    its seeds, when given)."""
    units = []
    for item in filter(None, text.split(",")):
        name, _, seed = item.rpartition(":")
        if name not in names or not seed.isdigit() or (seeds is not None and int(seed) not in seeds):
            also = "" if seeds is None else f" and SEED one of {', '.join(map(str, seeds))}"
            raise SystemExit(f"error: bad unit {item!r}: write NAME:SEED with NAME one of {', '.join(names)}{also}")
        units.append((name, int(seed)))
    return units
