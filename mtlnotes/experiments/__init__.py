"""One module per chapter: ``Config``, ``QUICK``, ``PAPER``, ``run(config)``, ``claims(results, config)``, a CLI.

Nothing else in :mod:`mtlnotes` imports from here.
"""
