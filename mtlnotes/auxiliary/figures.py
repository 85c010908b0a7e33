"""Figures of the RL-AUX chapter (:mod:`mtlnotes.experiments.rl_aux`) drawn from its results: Fig. 5 (test accuracy
against the auxiliary weight λ), Figs. 11–12 (macro precision, recall and F1 per method, App. A.3) and the RL
policies' distance from uniform over training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["lambda_ablation_figure", "precision_recall_f1_figure", "policy_figure"]

PRF = ("precision", "recall", "f1")


def lambda_ablation_figure(ablation: Sequence[dict], method: str, title: str = "") -> plt.Figure:
    """Fig. 5: each run's test accuracy (%) against λ (log₂ axis), and the mean over seeds as a line."""
    lams = sorted({r["aux_weight"] for r in ablation})
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for r in ablation:
        ax.plot(r["aux_weight"], 100 * r["test_acc"], "o", color="0.6", ms=4)
    means = [np.mean([100 * r["test_acc"] for r in ablation if r["aux_weight"] == lam]) for lam in lams]
    ax.plot(lams, means, "-", color="C0", label=f"{method}: mean over seeds")
    ax.set_xscale("log", base=2)
    ax.set_xticks(lams, [f"{lam:g}" for lam in lams])
    ax.set_xlabel("auxiliary weight λ")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"Fig. 5: the λ ablation ({method})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def precision_recall_f1_figure(runs: Sequence[dict], methods: Sequence[str], colors: Mapping[str, tuple],
                               title: str = "") -> plt.Figure:
    """Figs. 11–12: grouped bars of the mean macro precision, recall and F1 (%) over seeds, one group per
    measure and one bar per method (methods whose runs lack the measures are left out)."""
    shown = [m for m in methods if any(r["method"] == m for r in runs)
             and all("test_f1" in r for r in runs if r["method"] == m)]
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    width = 0.8 / max(len(shown), 1)
    for i, m in enumerate(shown):
        values = [np.mean([100 * r[f"test_{k}"] for r in runs if r["method"] == m]) for k in PRF]
        ax.bar(np.arange(len(PRF)) + (i - (len(shown) - 1) / 2) * width, values, width, label=m, color=colors[m])
    ax.set_xticks(range(len(PRF)), ["precision", "recall", "F1"])
    ax.set_ylabel("macro average on test (%)")
    low = min((b.get_height() for b in ax.patches), default=0.0)
    ax.set_ylim(max(0.0, low - 5), None)
    ax.set_title(title or "precision, recall and F1 (App. A.3)")
    ax.legend(fontsize=8, ncol=len(shown))
    fig.tight_layout()
    return fig


def policy_figure(runs: Sequence[dict], psi: int, n_weight_bins: int) -> plt.Figure:
    """The RL policies' mean top probability after each epoch, per run (sub-class on the left, WA-RL's weight
    bin on the right), with the uniform policy's value dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, ax, uniform, name in (("policy_top_prob", axes[0], 1 / psi, "sub-class"),
                                   ("weight_top_prob", axes[1], 1 / n_weight_bins, "weight bin (WA-RL)")):
        for r in runs:
            if r.get(key):
                ax.plot(range(1, len(r[key]) + 1), r[key], "-", color="C0" if r["method"] == "rl" else "C3",
                        label=f"{r['method']} seed {r['seed']}")
        ax.axhline(uniform, ls="--", color="gray", label="uniform")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean top probability")
        ax.set_title(f"policy's {name}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
