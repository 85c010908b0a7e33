"""The fairness chapter's figures are drawn from an analysis's data, point for point."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtlnotes.fairness.figures import eig_front_figure, fronts_figure, hypervolume_figure  # noqa: E402

VARIANTS = ("F_EIG", "F_EI", "F_EG", "F_E")


def _analysis():
    front = lambda k: [[0.1 * k, 1.0 - 0.1 * k], [0.2 * k, 0.5]]  # noqa: E731
    hv = [[0.1, 0.2, 0.3], [0.2, 0.3, 0.5]]  # 2 trials x 3 recorded generations
    return {"generations": [0, 10, 20],
            "fronts_val_trial0": {v: [front(k) for k in range(3)] for v in ("F_EI", "F_EG", "F_EIG")},
            "hv_val": {v: hv for v in VARIANTS}, "hv_test": {v: hv for v in VARIANTS},
            "front_eig_test": [[0.1, 0.2, 0.3], [0.2, 0.1, 0.4], [0.3, 0.3, 0.1]]}


def test_fig1_draws_every_recorded_front_and_the_final_one():
    fig = fronts_figure(_analysis(), "german")
    assert [ax.get_title() for ax in fig.axes] == ["german: F_EI", "german: F_EG", "german: F_EIG"]
    assert all(len(ax.collections) == 3 + 1 for ax in fig.axes)  # 3 recorded fronts + the final-front stars
    np.testing.assert_allclose(fig.axes[0].collections[-1].get_offsets(), [[0.2, 0.8], [0.4, 0.5]])
    plt.close(fig)


def test_figs2_and_3_plot_the_median_over_trials_and_leave_f_e_out_of_validation():
    colors = {v: f"C{i}" for i, v in enumerate(VARIANTS)}
    fig = hypervolume_figure(_analysis(), "adult", VARIANTS, colors, trials=2)
    val, test = fig.axes
    assert [line.get_label() for line in val.lines] == ["F_EIG", "F_EI", "F_EG"]
    assert [line.get_label() for line in test.lines] == list(VARIANTS)
    np.testing.assert_allclose(test.lines[0].get_ydata(), [0.15, 0.25, 0.4])
    assert test.get_title() == "adult: test HV of (MSE, f_I, f_G), 2 trials"
    plt.close(fig)


def test_fig4_shows_every_model_of_the_eig_front():
    fig = eig_front_figure(_analysis(), "compas")
    assert fig._suptitle.get_text() == "compas: 3 non-dominated models of F_EIG"
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(), [[0.1, 0.2], [0.2, 0.1], [0.3, 0.3]])
    plt.close(fig)
