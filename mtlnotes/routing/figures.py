"""Figures of the routing chapter (:mod:`mtlnotes.experiments.routing`) drawn from its results: test accuracy per
epoch of each architecture over seeds, against Table 2's numbers after 100 epochs (Rosenbaum et al., 2018, Fig. 8 /
Table 2); the accuracy on the first n tasks (Fig. 15)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from mtlnotes.plotting import curve_with_band
from mtlnotes.routing.tables import first_tasks_accuracy

__all__ = ["accuracy_curves", "table2_curves_figure", "first_tasks_figure"]


def accuracy_curves(results: Mapping, name: str) -> np.ndarray:
    """Test accuracy (%) per epoch of architecture ``name``'s units in ``results`` (a results file's "results"),
    one row per seed in seed order, over the epochs every seed ran (a partial run's units can stop at different
    epochs). Shape (seeds, epochs); (0, 0) when ``name`` has no unit."""
    units = sorted((u for u in results["units"].values() if u["architecture"] == name), key=lambda u: u["seed"])
    if not units:
        return np.zeros((0, 0))
    common = min(len(u["test_accuracy"]) for u in units)
    return 100 * np.array([u["test_accuracy"][:common] for u in units], dtype=float)


def table2_curves_figure(results: Mapping, table2: Mapping[str, float], names: Sequence[str] | None = None,
                         zoom: tuple[float, float] = (98.5, 100.0), title: str = "") -> plt.Figure:
    """Two panels (full range and ``zoom`` of the accuracy axis): for each architecture in ``names`` (default:
    Table 2's, then any other in ``results``) the mean test accuracy per epoch over its seeds with a min–max band
    (one seed: its curve), Table 2's accuracy after 100 epochs dashed where the paper gives one, and the trivial
    "always 'not c'" accuracy dotted."""
    present = list(dict.fromkeys(u["architecture"] for u in results["units"].values()))
    names = list(names) if names is not None else [n for n in table2 if n in present] + \
        [n for n in present if n not in table2]
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    majority = 100 * results["majority_baseline"]
    for ax, (low, high) in zip(axes, [(min(88.0, majority - 2), 100.5), zoom]):
        for name in names:
            curves = accuracy_curves(results, name)
            if not curves.size:
                continue
            epochs = np.arange(1, curves.shape[1] + 1)
            seeds = len(curves)
            label = f"{name} (mean of {seeds} seeds; band: min–max)" if seeds > 1 else f"{name} (one seed)"
            curve_with_band(ax, epochs, curves, center="mean", color=colors[name], label=label)
            if name in table2:
                ax.axhline(table2[name], color=colors[name], ls="--", lw=1)
        ax.set_ylim(low, high)
        ax.set_xlabel("epoch")
    axes[0].axhline(majority, color="grey", ls=":", label="always 'not c'")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title(title or "test accuracy per epoch (dashed: Table 2 after 100 epochs)")
    axes[1].set_title("the same, zoomed")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def first_tasks_figure(results: Mapping, title: str = "") -> plt.Figure:
    """Figure 15's accuracy half: test accuracy (%) against the number of tasks trained on (the first n tasks, and
    all of them), one line per architecture through the mean over seeds, each seed a dot."""
    acc, epoch = first_tasks_accuracy(dict(results))
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, (name, per_n) in enumerate(acc.items()):
        counts = sorted(per_n)
        color = plt.cm.tab10(i % 10)
        ax.plot(counts, [np.mean(list(per_n[n].values())) for n in counts], "o-", color=color, label=name)
        for n in counts:
            ax.plot([n] * len(per_n[n]), list(per_n[n].values()), ".", color=color, alpha=0.5)
    ax.set_xlabel("number of tasks (the first n)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"accuracy on the first n tasks after epoch {epoch} (dots: seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
