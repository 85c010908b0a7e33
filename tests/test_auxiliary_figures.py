"""The RL-AUX chapter's figures are drawn from the runs' data, point for point."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtlnotes.auxiliary.figures import lambda_ablation_figure, policy_figure, precision_recall_f1_figure  # noqa: E402


def test_fig5_plots_every_run_and_the_mean_per_lambda():
    abl = [{"aux_weight": lam, "seed": s, "test_acc": 0.8 + 0.01 * lam + 0.01 * s} for lam in (0.5, 1.0, 2.0)
           for s in (0, 1)]
    fig = lambda_ablation_figure(abl, "rl")
    ax = fig.axes[0]
    mean = ax.lines[-1]
    np.testing.assert_allclose(mean.get_xdata(), [0.5, 1.0, 2.0])
    np.testing.assert_allclose(mean.get_ydata(), [80.5 + lam for lam in (0.5, 1.0, 2.0)])
    assert len(ax.lines) == 6 + 1 and ax.get_xscale() == "log"
    plt.close(fig)


def test_precision_recall_f1_bars_are_the_means_over_seeds_and_skip_runs_without_them():
    runs = [{"method": "single", "seed": s, "test_precision": 0.8 + 0.1 * s, "test_recall": 0.7, "test_f1": 0.75}
            for s in (0, 1)] + [{"method": "rl", "seed": 0, "test_acc": 0.9}]
    fig = precision_recall_f1_figure(runs, ["single", "rl"], {"single": "C0", "rl": "C1"})
    heights = [b.get_height() for b in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [85.0, 70.0, 75.0])  # rl has no P/R/F1: left out
    plt.close(fig)


def test_policy_figure_draws_one_curve_per_rl_run_against_uniform():
    runs = [{"method": "rl", "seed": 0, "policy_top_prob": [0.5, 0.6]},
            {"method": "wa-rl", "seed": 0, "policy_top_prob": [0.5, 0.55], "weight_top_prob": [0.05, 0.1]},
            {"method": "single", "seed": 0}]
    fig = policy_figure(runs, psi=2, n_weight_bins=21)
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["rl seed 0", "wa-rl seed 0", "uniform"]
    assert [line.get_label() for line in right.lines] == ["wa-rl seed 0", "uniform"]
    np.testing.assert_allclose(right.lines[0].get_ydata(), [0.05, 0.1])
    assert right.lines[-1].get_ydata()[0] == 1 / 21
    plt.close(fig)
