"""The figures of Zhang et al. (ICANN 2021, §4.2) from an analysis of one dataset
(:func:`mtlnotes.experiments.fairness.analyse`, or a results file's ``results["datasets"][name]``).

* :func:`fronts_figure` — Fig. 1: the non-dominated models of trial 0 over the generations (validation);
* :func:`hypervolume_figure` — Figs. 2 and 3: hypervolume over the generations, validation (each variant in its own
  objectives) and test (all variants in (MSE, f_I, f_G)), median over trials with a min–max band;
* :func:`eig_front_figure` — Fig. 4: the non-dominated models of F_EIG on test data.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from mtlnotes.fairness.measures import OBJECTIVE_NAMES
from mtlnotes.fairness.moel import VARIANTS
from mtlnotes.plotting import curve_with_band

__all__ = ["fronts_figure", "hypervolume_figure", "eig_front_figure"]


def fronts_figure(analysis: dict, name: str) -> plt.Figure:
    """Fig. 1: for F_EI, F_EG and F_EIG, the non-dominated models of trial 0 at every recorded generation
    (darker = later) and the final front (stars), in each variant's first two objectives (validation)."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    cmap = plt.get_cmap("viridis")
    for ax, v in zip(axes, ["F_EI", "F_EG", "F_EIG"]):
        fronts = analysis["fronts_val_trial0"][v]
        obj = VARIANTS[v]
        for k, front in enumerate(fronts):
            F = np.asarray(front)
            ax.scatter(F[:, 0], F[:, 1], s=6, color=cmap(k / max(1, len(fronts) - 1)), alpha=0.7)
        F = np.asarray(fronts[-1])
        ax.scatter(F[:, 0], F[:, 1], marker="*", s=40, color="tab:green", edgecolor="k", linewidth=0.3,
                   label="final front")
        ax.set_xlabel("MSE (validation)")
        ax.set_ylabel(f"{OBJECTIVE_NAMES[obj[1]]} (validation)")
        ax.set_title(f"{name}: {v}")
    axes[0].legend()
    fig.tight_layout()
    return fig


def hypervolume_figure(analysis: dict, name: str, variants: Sequence[str], colors: dict,
                       trials: int | None = None) -> plt.Figure:
    """Figs. 2 (validation, own objectives; F_E has a single objective and no front) and 3 (test)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for v in variants:
        if v != "F_E":
            curve_with_band(axes[0], analysis["generations"], np.asarray(analysis["hv_val"][v]), v, colors[v])
        curve_with_band(axes[1], analysis["generations"], np.asarray(analysis["hv_test"][v]), v, colors[v])
    suffix = f", {trials} trials" if trials is not None else ""
    axes[0].set_title(f"{name}: validation HV (own objectives){suffix}")
    axes[1].set_title(f"{name}: test HV of (MSE, f_I, f_G){suffix}")
    for ax in axes:
        ax.set_xlabel("generation")
        ax.set_ylabel("hypervolume (normalised)")
    axes[1].legend()
    fig.tight_layout()
    return fig


def eig_front_figure(analysis: dict, name: str) -> plt.Figure:
    """Fig. 4: the non-dominated models of F_EIG on test data (all recorded generations of all trials), MSE
    against f_I and against f_G, coloured by the third objective."""
    F = np.asarray(analysis["front_eig_test"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (a, b) in zip(axes, [(0, 1), (0, 2)]):
        sc = ax.scatter(F[:, a], F[:, b], c=F[:, 3 - a - b], s=10, cmap="viridis")
        ax.set_xlabel(f"{OBJECTIVE_NAMES[a]} (test)")
        ax.set_ylabel(f"{OBJECTIVE_NAMES[b]} (test)")
        fig.colorbar(sc, ax=ax, label=OBJECTIVE_NAMES[3 - a - b])
    fig.suptitle(f"{name}: {len(F)} non-dominated models of F_EIG")
    fig.tight_layout()
    return fig
