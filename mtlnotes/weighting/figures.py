"""Figures of the Nash-MTL chapter (:mod:`mtlnotes.experiments.nash_mtl`), drawn from the runs' data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from mtlnotes.weighting.toy import toy_losses

__all__ = ["toy_pareto_front", "toy_figure"]


def toy_pareto_front(scale: float = 0.1, lim: float = 10.0, n: int = 601) -> np.ndarray:
    """The toy's Pareto front (m, 2) in loss space, from a dense ``n × n`` grid of parameters on
    ``[-lim, lim]²``: the grid points no other grid point dominates (sorted by the first loss, ties kept).

    Written out rather than :func:`mtlnotes.fairness.indicators.nondominated_mask` (the same set; tested): with two
    objectives one sweep in lexicographic order suffices, 0.09 s for the 361,201 points of the default grid
    against 85 s for the general m-objective filter."""
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    f = toy_losses(grid, scale).numpy()
    f = f[np.lexsort((f[:, 1], f[:, 0]))]
    return f[np.minimum.accumulate(f[:, 1]) == f[:, 1]]


def toy_figure(toy: Mapping[str, Sequence[dict]], methods: Sequence[str], scale: float,
               colors: Mapping[str, str], front: np.ndarray | None = None, title: str | None = None) -> plt.Figure:
    """Fig. 1 of the paper from :func:`~mtlnotes.weighting.toy.run_toy`'s runs: one panel per method with the
    Pareto front (grey), each start's trajectory in loss space, its start (black dot) and its end (star when
    Pareto-stationary, cross when not), and how many starts reached the front."""
    front = toy_pareto_front(scale) if front is None else front
    cols = 4
    rows = -(-len(methods) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.8 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, methods):
        ax.plot(front[:, 0], front[:, 1], color="0.6", lw=3, zorder=1)
        for run in toy[name]:
            tr = toy_losses(torch.tensor(run["trajectory"], dtype=torch.float64), scale).numpy()
            ax.plot(tr[:, 0], tr[:, 1], color=colors[name], lw=1)
            ax.scatter(*tr[0], color="black", s=8, zorder=3)
            ax.scatter(*tr[-1], color=colors[name], marker="*" if run["on_front"] else "x", s=50, zorder=4)
        ax.set_title(f"{name}: {sum(r['on_front'] for r in toy[name])}/{len(toy[name])} on the front")
    for ax in axes.flat[len(methods):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss 2")
    for ax in axes[-1]:
        ax.set_xlabel(f"loss 1 (×{scale:g})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
