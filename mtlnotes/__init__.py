"""mtlnotes: tested implementations of the multi-task learning methods reproduced in MTL Notes.

Import it first (before NumPy or torch): it pins portable CPU numerics (:mod:`mtlnotes.numerics`) and makes a
relative ``$MTLNOTES_DATA`` absolute (:mod:`mtlnotes.datapath`). Subpackages load on first use, e.g.
``mtlnotes.weighting.NashMTL`` after a plain ``import mtlnotes``.

Method packages (they import only ``models``, ``gradients``, ``repro``, ``training``, ``data`` and third-party
libraries, never ``experiments``):

* ``weighting``   -- loss weightings and gradient aggregators (LS, UW, DWA, MGDA, PCGrad, CAGrad, IMTL-G, Nash-MTL)
* ``routing``     -- routing networks: routed layers, router agents (WPL, Q-learning, REINFORCE), cross-stitch
* ``scheduling``  -- task selection policies, the MTL bandit, counterfactual estimators
* ``auxiliary``   -- auxiliary tasks by a label network (MAXL) or an RL agent (RL-AUX)
* ``hierarchy``   -- hierarchical classification with multiple label structures (MMF)
* ``fairness``    -- unfairness measures and multi-objective evolutionary learning

Building blocks:

* ``data``        -- the verified download cache and official-format loaders (MNIST, CIFAR, QM9, NYUv2, GLUE...)
* ``models``      -- backbones and heads (MLP, LeNet, SimpleConvNet, VGG16, MPNN, SegNet-MTAN)
* ``gradients``   -- per-task gradients of the shared parameters (engines: reference, layerwise, vmap)
* ``fit``         -- the one training loop (epochs, evaluation, best-on-validation, checkpoint/resume)
* ``training``    -- progress bars, minibatches, evaluation helpers
* ``stats``       -- seed statistics: t-intervals and holds / does not hold / inconclusive
* ``results``     -- results files with provenance, claims, the ledger
* ``checkpoint``  -- resumable units of work
* ``parallel``    -- independent units side by side in worker processes, one per core
* ``repro``, ``numerics``, ``datapath`` -- seeding and devices, portable CPU numerics, the data folder
* ``plotting``    -- the book's figure style
* ``display``     -- the book's tables: claims as tables, "—" for missing values, one notebook setup call

Chapters: ``experiments.<chapter>`` holds a chapter's ``Config``, profiles, ``run`` and ``claims``; run one with
``python -m mtlnotes.experiments.<chapter> --help`` (``python -m mtlnotes.experiments.cli`` lists them all).
"""

from mtlnotes.numerics import pin_portable_numerics as _pin_portable_numerics

# Before anything imports torch and runs an op: pin CPU code paths so results are identical on every
# x86-64 machine (see mtlnotes/numerics.py; MTLNOTES_NATIVE_NUMERICS=1 opts out).
_pin_portable_numerics()

from mtlnotes.datapath import export_data_dir as _export_data_dir  # noqa: E402  (standard library only)

# A relative MTLNOTES_DATA means the same folder from every working directory (and in every child process).
_export_data_dir()

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # method packages
    "weighting", "routing", "scheduling", "auxiliary", "hierarchy", "fairness",
    # building blocks
    "data", "models", "gradients", "fit", "training", "stats", "results", "checkpoint",
    "repro", "numerics", "datapath", "plotting", "display",
    # chapters
    "experiments",
]


def __getattr__(name: str):
    """Import a subpackage on first attribute access (PEP 562), so ``import mtlnotes`` stays light."""
    import importlib

    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute or subpackage {name!r}") from None
