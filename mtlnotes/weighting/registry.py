"""Build a weighting method by its short name (the names used in the Nash-MTL paper's tables)."""

from __future__ import annotations

from typing import Any

from mtlnotes.weighting.base import Weighting
from mtlnotes.weighting.cagrad import CAGrad
from mtlnotes.weighting.dwa import DWA
from mtlnotes.weighting.graddrop import GradDrop
from mtlnotes.weighting.imtl import IMTLG
from mtlnotes.weighting.mgda import MGDA
from mtlnotes.weighting.nash import NashMTL
from mtlnotes.weighting.pcgrad import PCGrad
from mtlnotes.weighting.scalarization import LS, RLW, SI
from mtlnotes.weighting.uncertainty import UW

__all__ = ["METHODS", "make_method"]

METHODS = ("LS", "SI", "RLW", "DWA", "UW", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "GradDrop", "Nash-MTL")


def make_method(name: str, n_tasks: int, seed: int = 0, **kwargs: Any) -> Weighting:
    """A fresh method object: ``name`` in :data:`METHODS`; ``seed`` for the random ones (RLW, PCGrad, GradDrop);
    ``kwargs`` go to the constructor (e.g. ``c=0.4`` for CAGrad, ``update_every=5`` for Nash-MTL)."""
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    builders = {
        "LS": lambda: LS(**kwargs), "SI": lambda: SI(**kwargs), "RLW": lambda: RLW(seed=seed, **kwargs),
        "DWA": lambda: DWA(**kwargs), "UW": lambda: UW(n_tasks, **kwargs), "MGDA": lambda: MGDA(**kwargs),
        "PCGrad": lambda: PCGrad(seed=seed, **kwargs), "CAGrad": lambda: CAGrad(**kwargs),
        "IMTL-G": lambda: IMTLG(**kwargs), "GradDrop": lambda: GradDrop(seed=seed, **kwargs),
        "Nash-MTL": lambda: NashMTL(**kwargs),
    }
    if name not in builders:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return builders[name]()
