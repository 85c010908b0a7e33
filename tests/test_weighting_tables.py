"""The Nash-MTL chapter's tables and figures are computed from the results files, number for number."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtlnotes.fairness.indicators import nondominated_mask  # noqa: E402
from mtlnotes.stats import compare, mean_interval  # noqa: E402
from mtlnotes.weighting.figures import toy_figure, toy_pareto_front  # noqa: E402
from mtlnotes.weighting.tables import multimnist_profile_rows, toy_profile_rows  # noqa: E402
from mtlnotes.weighting.toy import toy_losses  # noqa: E402


def _doc(steps: int, epochs: int, dm: dict[str, list[float]], with_toy: bool = True) -> dict:
    toy = {"LS": [{"on_front": True, "stopped": None}, {"on_front": False, "stopped": "step 3: ValueError: x"}]}
    mm = {"sizes": {"train": 100}, "delta_m_per_seed": dm,
          "mean_test_acc": {m: [0.9, 0.8] for m in dm}, "mean_rank": {m: 1.5 for m in dm}}
    return {"config": {"toy_steps": steps, "toy_lr": 0.05, "mm_epochs": epochs},
            "results": {"toy": toy, "multimnist": mm} if with_toy else {"multimnist": mm}}


def test_toy_rows_count_starts_on_the_front_and_early_stops_per_profile():
    rows = toy_profile_rows({"quick": _doc(600, 3, {"LS": [1.0]}), "full": _doc(35_000, 6, {"LS": [1.0]}, False)})
    assert rows == [{"profile": "quick", "method": "LS", "Adam steps": 600, "lr": 0.05, "on the front": "1/2",
                     "stopped early": 1, "changed by a nudge": "—"}]  # the full file has no toy: no row
    nudged = _doc(35_000, 6, {"LS": [1.0]})
    for run, verdicts in zip(nudged["results"]["toy"]["LS"], ([True, False], [False, False])):
        run.update(start=[0.0, 0.0], nudge=1e-12, nudged_on_front=verdicts)
    assert toy_profile_rows({"full": nudged})[0]["changed by a nudge"] == 1  # the first start's verdict flips


def test_multimnist_rows_give_seed_intervals_and_paired_differences_from_the_reference():
    dm = {"LS": [2.0, 1.0, 3.0], "Nash-MTL": [1.0, 1.5, 1.0]}
    rows = multimnist_profile_rows({"full": _doc(1, 6, dm)})
    ls, nash = rows
    assert ls["Δm% (↓)"] == str(mean_interval([2.0, 1.0, 3.0]))
    assert ls["Δm% − Nash-MTL's"] == str(compare([2.0, 1.0, 3.0], [1.0, 1.5, 1.0]))  # paired: [1, -0.5, 2]
    assert str(compare([2.0, 1.0, 3.0], [1.0, 1.5, 1.0])) == str(mean_interval([1.0, -0.5, 2.0]))
    assert nash["Δm% − Nash-MTL's"] == "" and nash["seeds"] == 3 and nash["epochs"] == 6
    assert (ls["left acc (%)"], ls["right acc (%)"], ls["train images"]) == (90.0, 80.0, 100)


def test_the_toy_front_is_exactly_the_undominated_grid_points():
    n, lim = 41, 10.0
    axis = torch.linspace(-lim, lim, n, dtype=torch.float64)
    f = toy_losses(torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2), 0.1).numpy()
    dominated = np.array([np.any(np.all(f <= p, 1) & np.any(f < p, 1)) for p in f])
    front = toy_pareto_front(0.1, lim, n)
    assert sorted(map(tuple, front)) == sorted(map(tuple, f[~dominated]))
    assert sorted(map(tuple, front)) == sorted(map(tuple, f[nondominated_mask(f)]))  # the fairness chapter's filter


def test_toy_figure_draws_each_run_from_its_trajectory():
    runs = [{"trajectory": [[1.0, 1.0], [0.5, 0.5]], "on_front": True},
            {"trajectory": [[-2.0, 3.0], [-1.0, 2.0], [0.0, 1.0]], "on_front": False}]
    fig = toy_figure({"LS": runs, "MGDA": runs[:1]}, ["LS", "MGDA"], 0.1, {"LS": "C0", "MGDA": "C1"},
                     front=np.zeros((1, 2)))
    ax = fig.axes[0]
    assert ax.get_title() == "LS: 1/2 on the front"
    lines = ax.lines[1:]  # after the front
    for line, run in zip(lines, runs):
        expected = toy_losses(torch.tensor(run["trajectory"], dtype=torch.float64), 0.1).numpy()
        np.testing.assert_allclose(np.column_stack([line.get_xdata(), line.get_ydata()]), expected)
    assert fig.axes[1].get_title() == "MGDA: 1/1 on the front" and not fig.axes[2].axison  # spare panels off
    plt.close(fig)
