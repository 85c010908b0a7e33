"""One module per chapter: ``Config``, ``QUICK``, ``PAPER``, ``run(config)``, ``claims(results, config)``, a CLI.

Nothing else in :mod:`mtlnotes` imports from here.

``python -m mtlnotes.experiments.<chapter> --help`` is answered here, while Python is still locating the chapter
module and before its torch-heavy imports run (from :mod:`mtlnotes.experiments.catalog`), so help is instant.
"""

import sys


def _serve_help_early() -> None:
    # While `python -m pkg.mod` imports pkg, sys.argv[0] is "-m" (documented); sys.orig_argv has the command line.
    if sys.argv[:1] != ["-m"] or not hasattr(sys, "orig_argv"):
        return
    argv = sys.orig_argv
    for i, arg in enumerate(argv[1:], start=1):
        if arg == "-m" or (arg.startswith("-m") and not arg.startswith("--")):
            target, rest = (argv[i + 1], argv[i + 2:]) if arg == "-m" else (arg[2:], argv[i + 1:])
            break
    else:
        return
    prefix = f"{__name__}."
    if "--" in rest:
        rest = rest[:rest.index("--")]
    if {"-h", "--help"} & set(rest) and target.startswith(prefix) and "." not in target[len(prefix):]:
        from mtlnotes.experiments.cli import serve_help_early

        serve_help_early(target[len(prefix):], rest)


_serve_help_early()
