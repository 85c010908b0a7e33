"""Gradient aggregation and loss weighting for multi-task learning (the methods compared by Navon et al., 2022).

Loss weightings (``combine(losses) -> scalar``): :class:`LS`, :class:`SI`, :class:`RLW`, :class:`DWA`, :class:`UW`.
Gradient aggregators (``aggregate(grads (K, d)) -> Aggregation(direction (d,), weights (K,))``): :class:`MGDA`,
:class:`PCGrad`, :class:`CAGrad`, :class:`IMTLG`, :class:`GradDrop`, :class:`NashMTL`. The Gram-based ones (MGDA,
CAGrad, Nash-MTL) are :class:`GramWeighting` subclasses: ``weights(G Gᵀ) -> α (K,)`` in torch, one shared
``aggregate`` (scale-safe, :mod:`mtlnotes.weighting.scaling`); their K×K solves run on one thread
(:mod:`mtlnotes.weighting.threads`). Every aggregator rejects non-floating gradients with a TypeError.
:func:`nash_bargaining_weights` solves α ⊙ (G Gᵀ α) = 1. :func:`make_method` builds any of them by name.
:mod:`~mtlnotes.weighting.metrics` holds Δm% and the mean rank (Navon et al., 2022, §6), and
:mod:`~mtlnotes.weighting.toy` the illustrative two-objective example of their §6.1 and Fig. 2 (run in batch by
:mod:`~mtlnotes.weighting.toy_batched` with the two-task closed forms of :mod:`~mtlnotes.weighting.two_task`);
:mod:`~mtlnotes.weighting.benchmarks` trains the compared methods on MultiMNIST, QM9 and NYUv2 (their §6.2–6.3).
"""

from mtlnotes.weighting.base import Aggregation, GradientAggregator, LossWeighting, Weighting
from mtlnotes.weighting.cagrad import CAGrad, cagrad_dual_weights
from mtlnotes.weighting.dwa import DWA
from mtlnotes.weighting.graddrop import GradDrop
from mtlnotes.weighting.gram import GramWeighting
from mtlnotes.weighting.imtl import IMTLG, imtl_weights
from mtlnotes.weighting.metrics import delta_m, mean_rank
from mtlnotes.weighting.mgda import MGDA
from mtlnotes.weighting.nash import NashBargainingError, NashMTL, NashSolverError, nash_bargaining_weights, solve_nash_gram
from mtlnotes.weighting.pcgrad import PCGrad
from mtlnotes.weighting.registry import METHODS, make_method
from mtlnotes.weighting.scalarization import LS, RLW, SI
from mtlnotes.weighting.simplex import min_norm_weights, project_simplex
from mtlnotes.weighting.uncertainty import UW

__all__ = [
    "Aggregation", "GradientAggregator", "LossWeighting", "Weighting", "CAGrad", "cagrad_dual_weights", "DWA",
    "GradDrop", "GramWeighting", "IMTLG", "imtl_weights", "MGDA", "NashBargainingError", "NashMTL", "NashSolverError", "nash_bargaining_weights",
    "solve_nash_gram", "PCGrad", "METHODS", "make_method", "LS", "RLW", "SI", "min_norm_weights",
    "project_simplex", "UW", "delta_m", "mean_rank",
]
