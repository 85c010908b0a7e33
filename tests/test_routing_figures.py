"""The routing chapter's accuracy figure is drawn from the units' curves: the mean over seeds, a min–max band, and
Table 2's numbers where the paper gives them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtlnotes.routing.figures import accuracy_curves, table2_curves_figure  # noqa: E402


def _results(curves: dict[tuple[str, int], list[float]]) -> dict:
    return {"majority_baseline": 0.9,
            "units": {f"{name}-seed{seed}": {"architecture": name, "seed": seed, "test_accuracy": acc}
                      for (name, seed), acc in curves.items()}}


def test_curves_are_per_seed_in_seed_order_over_the_epochs_every_seed_ran():
    res = _results({("a", 1): [0.90, 0.95, 0.97], ("a", 0): [0.91, 0.96], ("b", 0): [0.9]})
    np.testing.assert_allclose(accuracy_curves(res, "a"), [[91.0, 96.0], [90.0, 95.0]])
    assert accuracy_curves(res, "missing").shape == (0, 0)


def test_figure_draws_the_mean_over_seeds_with_table2_dashed_and_other_architectures_without():
    res = _results({("routing", 0): [0.90, 0.98], ("routing", 1): [0.92, 0.99], ("routing", 2): [0.97, 0.99],
                    ("extra", 0): [0.9, 0.91]})
    fig = table2_curves_figure(res, {"routing": 99.0, "absent": 90.0})
    ax = fig.axes[0]
    mean = next(line for line in ax.lines if line.get_label().startswith("routing"))
    np.testing.assert_allclose(mean.get_ydata(), [93.0, 296 / 3])   # the mean, not the median
    assert mean.get_label() == "routing (mean of 3 seeds; band: min–max)"
    assert any(line.get_label() == "extra (one seed)" for line in ax.lines)
    dashed = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"]
    assert dashed == [99.0]                         # no line for "absent" (no unit) nor "extra" (not in Table 2)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 90.0 and band.max() == 99.0
    plt.close(fig)
