"""One figure style for the whole book, and a few plots several chapters draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

__all__ = ["use_book_style", "method_colors", "curve_with_band", "bar_with_points"]

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 3.8),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
    "svg.hashsalt": "mtlnotes",
}


def use_book_style() -> None:
    """Apply the book's style (seaborn 'whitegrid', colour-blind palette, modest dpi so notebooks stay small)."""
    sns.set_theme(style="whitegrid", palette="colorblind", rc=_STYLE)
    matplotlib.rcParams.update(_STYLE)


def method_colors(names: Sequence[str]) -> dict[str, tuple]:
    """A stable colour per method name (same order → same colours in every figure of a chapter)."""
    palette = sns.color_palette("colorblind", n_colors=max(10, len(names)))
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def curve_with_band(ax: plt.Axes, x: Sequence[float], runs: np.ndarray, label: str, color=None,
                    center: str = "median") -> None:
    """Plot the median (or mean) of ``runs`` (R, T) over x with a min–max band."""
    runs = np.asarray(runs, dtype=float)
    if runs.ndim != 2 or runs.shape[1] != len(x):
        raise ValueError(f"runs must be (R, {len(x)}), got {runs.shape}")
    mid = np.median(runs, axis=0) if center == "median" else runs.mean(axis=0)
    line, = ax.plot(x, mid, label=label, color=color)
    ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), alpha=0.2, color=line.get_color(), linewidth=0)


def bar_with_points(ax: plt.Axes, values: Mapping[str, Sequence[float]], colors: Mapping[str, tuple] | None = None,
                    ylabel: str = "") -> None:
    """Bars at the mean of each entry's values with the individual values (e.g. seeds) as dots."""
    names = list(values)
    for i, name in enumerate(names):
        v = np.asarray(values[name], dtype=float)
        c = colors[name] if colors else None
        ax.bar(i, v.mean(), color=c, alpha=0.7)
        ax.scatter(np.full(len(v), i), v, color="black", s=10, zorder=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
