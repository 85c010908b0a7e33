"""The command line every chapter shares.

``python -m mtlnotes.experiments.<chapter> [--profile NAME] [--out FILE] [--seeds 0,1,2] [--device cpu]
[--threads N] [--checkpoint-dir DIR] [--worker]`` runs the chapter's ``run(config)`` and writes a results file with
provenance (see :mod:`mtlnotes.results`). A second process with the same options and ``--worker`` computes, into the
same checkpoint directory, the units the first does not hold (:mod:`mtlnotes.checkpoint`), so that one profile runs
on several cores or machines; the run without ``--worker`` waits for the worker's units and writes the file.
``python -m mtlnotes.experiments.cli`` lists the chapters.

Bad options (``--threads 0``, an unknown or unavailable ``--device``, an ``--out`` that cannot be written, bad
``--seeds``) end with a one-line error and exit code 2 before anything runs; so do missing or corrupt data files
(with the file, its checksum and where to get it). This module imports torch only when a run starts, so that
``--help`` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtlnotes.experiments.catalog import (CHAPTERS, ChapterInfo, from_source, last_units_compute, last_wall_time,
                                         plain_text)

__all__ = ["run_cli", "build_parser", "usage_error", "main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: ...``) and exit with code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def usage_error(chapter_module: str, message: str) -> NoReturn:
    """One line on stderr, exit code 2: for the options a chapter's ``main()`` parses itself."""
    print(f"python -m mtlnotes.experiments.{chapter_module}: error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated non-negative integers, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"must be comma-separated non-negative integers, got {text!r}")
    return seeds


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _hanging(name: str, text: str, width: int, total: int = 79) -> str:
    """``  name  text...`` wrapped at ``total`` columns with the text's lines aligned."""
    import textwrap

    first = f"  {name:<{width}}"
    return textwrap.fill(text, total, initial_indent=first, subsequent_indent=" " * len(first),
                         break_on_hyphens=False) if text else first  # keep names such as paper-svhn whole


def build_parser(module: str, info: ChapterInfo, profiles: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m mtlnotes.experiments.<module>``: description and profiles from ``info``."""
    names = list(profiles if profiles is not None else info.profiles)
    width = max(len(n) for n in names) + 2
    lines = []
    for name in names:
        line = info.profiles.get(name, "")
        wall = last_wall_time(module, name)
        units = last_units_compute(module, name)
        if wall is not None and units is not None:   # assembled from units of a --checkpoint-dir
            seconds, n, recorded = units
            unrecorded = f" ({n - recorded} of them without a full record)" if recorded < n else ""
            line += (f" Last stored run: {_minutes(wall)} (results/{module}-{name}.json); its {n} checkpointed "
                     f"units, computed then or earlier: {_minutes(seconds)} of recorded compute{unrecorded}.")
        elif wall is not None:
            # the command's own wall time: units it read from a --checkpoint-dir (computed earlier) are not in it
            line += (f" Last stored run: {_minutes(wall)} (results/{module}-{name}.json; units read from a "
                     "checkpoint directory not counted).")
        lines.append(_hanging(name, line.strip(), width))
    epilog = "profiles:\n" + "\n".join(lines)
    if info.extra_options:
        flag_width = max(len(f) for f in info.extra_options) + 2
        epilog += "\n\nchapter options:\n" + "\n".join(
            _hanging(flag, text, flag_width) for flag, text in info.extra_options.items())
    epilog += ("\n\nWithout --out the results file is written to ./<chapter>-<profile>.json in the current "
               "directory; the book's files under results/ change only when --out names them.")
    description = f"{info.title}.\n\n{info.description}" if info.title else info.description
    parser = _Parser(prog=f"python -m mtlnotes.experiments.{module}", description=description, epilog=epilog,
                     formatter_class=_Formatter)
    parser.add_argument("--profile", choices=names, default="quick" if "quick" in names else names[0],
                        metavar="NAME", help="which settings to run (listed below; default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="results file to write (default: ./<chapter>-<profile>.json)")
    parser.add_argument("--seeds", type=_seeds, default=None, metavar="0,1,2",
                        help="comma-separated seeds overriding the profile's")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="torch device: cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                        help="store finished units here and resume from them after an interruption")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="torch CPU threads (default: $MTLNOTES_THREADS or 2)")
    parser.add_argument("--worker", action="store_true",
                        help="help another run of the same profile: compute the units it does not hold into the "
                             "same --checkpoint-dir, write no results file (that run writes it)")
    return parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's table as written and wraps the description's paragraphs."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = text.split("\n\n")
        head = [textwrap.fill(p, width, initial_indent=indent, subsequent_indent=indent)
                if not p.startswith(("profiles:", "chapter options:", "  ")) else p for p in paragraphs]
        return "\n\n".join(head)


def chapter_info(module: str, doc: str | None = None, profiles: Sequence[str] = ()) -> ChapterInfo:
    """The catalog's entry for ``module``, else one read from its source, else one made from its docstring."""
    if module in CHAPTERS:
        return CHAPTERS[module]
    found = from_source(module)
    if found is not None and set(found.profiles) == set(profiles):
        return found
    return ChapterInfo("", plain_text(doc) or f"Chapter {module}.", {p: "" for p in profiles})


def serve_help_early(module: str, argv: Sequence[str]) -> None:
    """Print ``--help`` for a catalogued chapter without importing it, and exit; otherwise return.

    Called by :mod:`mtlnotes.experiments` while ``python -m mtlnotes.experiments.<module>`` is being located.
    """
    args = list(argv)
    if "--" in args:
        args = args[:args.index("--")]
    if not ({"-h", "--help"} & set(args)):
        return
    if module == "cli":
        main(["--help"])
        raise SystemExit(0)
    info = CHAPTERS.get(module) or from_source(module)
    if info is not None:
        build_parser(module, info).parse_args(["--help"])


def _check_writable(out: Path) -> str | None:
    """Why ``out`` cannot be written (checked before the run, so a long run is not lost), or None."""
    if out.is_dir():
        return f"--out {out} is a directory; give a file name"
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"--out {out} cannot be written: {existing} is a file, not a folder"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
        if out.exists() and not os.access(out, os.W_OK):
            return f"--out {out} exists and is not writable"
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"--out {out} cannot be written: {exc.strerror or exc}{where}"
    return None


def _device(parser: argparse.ArgumentParser, name: str | None):
    """The torch device for ``--device`` (one-line error and exit 2 when unknown or unavailable)."""
    from mtlnotes.repro import choose_device

    try:
        return choose_device(name)
    except RuntimeError as exc:
        text = str(exc).splitlines()[0]
        if "not available" not in text:
            text = f"unknown --device {name!r}: use cpu, cuda or cuda:N"
        parser.error(text)


def run_cli(chapter: str, profiles: dict[str, Any], run: Callable[..., dict],
            claims: Callable[[dict, Any], list], argv: Sequence[str] | None = None) -> Path | None:
    """Parse ``argv``, run the chosen profile's config and write its results file; returns its path.

    ``profiles`` maps profile names to frozen ``Config`` dataclasses that have ``seeds`` and ``profile``
    fields. ``run(config, device=..., checkpoint_dir=...)`` returns plain data; ``claims(results, config)``
    returns the chapter's claims. The help text comes from :data:`~mtlnotes.experiments.catalog.CHAPTERS`
    (keyed by the module name of ``run``), or from that module's docstring when the chapter is not listed there.
    Every bad option ends with one line on stderr and exit code 2, before the run.
    """
    module_name = getattr(run, "__module__", "") or ""
    doc = getattr(sys.modules.get(module_name), "__doc__", None)
    if module_name == "__main__":  # python -m mtlnotes.experiments.<chapter>
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module_name = spec.name if spec is not None else chapter
    module = module_name.rsplit(".", 1)[-1] or chapter
    info = chapter_info(module, doc, list(profiles))
    parser = build_parser(module, info, list(profiles))
    # the chapter's own options (e.g. routing's --time-budget) were consumed by its main(); list them for --help
    for flag, text in info.extra_options.items():
        name, *metavar = flag.split()
        parser.add_argument(name, metavar=metavar[0] if metavar else None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    config = profiles[args.profile]
    if args.seeds:
        config = dataclasses.replace(config, seeds=args.seeds)
    out = args.out if args.out is not None else Path(f"{chapter}-{args.profile}.json")
    problem = _check_writable(out)
    if problem:
        parser.error(problem)

    from mtlnotes.data.cache import ChecksumError, DataError
    from mtlnotes.repro import make_deterministic, set_threads
    from mtlnotes.results import write_results

    device = _device(parser, args.device)
    if args.threads is not None:
        # run() functions call set_threads() with no argument, which reads MTLNOTES_THREADS:
        # setting it here makes --threads hold for the whole run instead of being reset to 2.
        os.environ["MTLNOTES_THREADS"] = str(args.threads)
    set_threads(args.threads)
    make_deterministic(True)

    if args.worker and args.checkpoint_dir is None:
        parser.error("--worker needs --checkpoint-dir: the directory of the run it helps")
    start = time.perf_counter()
    try:
        if args.worker:
            _work_beside(lambda: run(config, device=device, checkpoint_dir=args.checkpoint_dir), device=device)
            return None
        results, keys = _run_sharing(lambda: run(config, device=device, checkpoint_dir=args.checkpoint_dir),
                                     shared=args.checkpoint_dir is not None, device=device)
    except ChecksumError as exc:
        print(f"error: the {args.profile} profile of '{chapter}' found a corrupt data file:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except DataError as exc:
        print(f"error: the {args.profile} profile of '{chapter}' needs data that is not available here:\n{exc}",
              file=sys.stderr)
        raise SystemExit(2) from None
    wall = time.perf_counter() - start
    units = None
    if args.checkpoint_dir is not None:  # how the units were computed, in this command or earlier ones
        from mtlnotes.checkpoint import unit_records
        units = unit_records(args.checkpoint_dir, keys)
    path = write_results(out, chapter=chapter, profile=args.profile, config=config, seeds=config.seeds,
                         results=results, claims=claims(results, config), wall_time_s=wall, device=device,
                         units=units)
    print(f"wrote {path} ({wall:.1f} s)")
    return path


def _one_pass(run: Callable[[], dict], when_taken: str, device=None):
    """``run()`` with the units other processes hold skipped or waited for: (results or None, the pass's
    :class:`~mtlnotes.checkpoint.UnitLog`). In skip mode a chapter may fail on a skipped unit's missing result;
    that pass then ends early (its results are never used), and the error is raised only if nothing was skipped.
    ``device`` is recorded in the units' records (:func:`~mtlnotes.checkpoint.taken_units`)."""
    from mtlnotes.checkpoint import taken_units
    from mtlnotes.data.cache import DataError

    with taken_units(when_taken, device) as log:
        try:
            return run(), log
        except DataError:
            raise
        except Exception:
            if when_taken == "wait" or not log.skipped:
                raise
            return None, log


def _run_sharing(run: Callable[[], dict], shared: bool, device=None) -> tuple[dict, list[str]]:
    """The results of ``run()`` and the keys of the units it computed or read. With a checkpoint directory that
    workers may share (``shared``): a first pass computes the units no other process holds, and, if any were
    held, a second pass waits for them and assembles the results from the stored units."""
    if not shared:
        return run(), []
    results, log = _one_pass(run, "skip", device)
    keys = log.computed + log.read
    if log.skipped:
        print(f"{len(log.skipped)} unit(s) held by workers; waiting for them", file=sys.stderr, flush=True)
        results, log = _one_pass(run, "wait", device)
        keys += log.computed + log.read
    return results, list(dict.fromkeys(keys))


def _work_beside(run: Callable[[], dict], pause_s: float = 60.0, device=None) -> None:
    """``--worker``: passes over ``run()`` that compute the units no other process holds, until a pass finds none
    held (every unit is stored), pausing ``pause_s`` after a pass that computed nothing."""
    computed = 0
    while True:
        _, log = _one_pass(run, "skip", device)
        computed += len(log.computed)
        if not log.skipped:
            break
        if not log.computed:
            time.sleep(pause_s)
    print(f"worker done: computed {computed} unit(s); the run without --worker writes the results file")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mtlnotes.experiments.cli``: list the chapters, their profiles and the shared options."""
    import textwrap

    parser = _Parser(prog="python -m mtlnotes.experiments.cli", add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="show this list and exit")
    parser.parse_args(argv)
    print("usage: python -m mtlnotes.experiments.cli [-h]\n")
    print(textwrap.fill("The chapters of MTL Notes. Run one with python -m mtlnotes.experiments.<chapter> "
                        "[options]; its --help describes the chapter and explains each profile. The quick "
                        "profiles run on a CPU; the paper profiles need the papers' data and mostly a GPU.", 79))
    print("\nchapters:")
    for module, info in CHAPTERS.items():
        print(_hanging(module, info.title, 16))
        print(_hanging("", "profiles: " + ", ".join(info.profiles), 16))
    print("\nshared options (every chapter):")
    shared = build_parser("<chapter>", ChapterInfo("", "", {"quick": ""}))
    for action in shared._actions:
        if action.option_strings and action.help:
            flag = ", ".join(action.option_strings) + (f" {action.metavar}" if action.metavar else "")
            print(_hanging(flag, action.help % {"default": action.default}, 22))


if __name__ == "__main__":
    main()
