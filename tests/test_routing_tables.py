"""Profile tables of the routing chapter (``routing.tables``)."""

from __future__ import annotations

import numpy as np
import pytest

from mtlnotes.stats import mean_interval
from mtlnotes.routing.tables import (accuracy_profile_rows, base_vs_chosen_rows, final_task_accuracy_rows,
                                     lagging_seed_tasks, route_sharing_rows, sweep_rows, sweep_series,
                                     unit_rows)


def _doc(units: list[tuple[str, int, list[float]]], train: int) -> dict:
    return {"results": {"sizes": {"train": train, "test": 10},
                        "units": {f"{a}-seed{s}": {"architecture": a, "seed": s, "test_accuracy": acc,
                                                   "epochs_run": len(acc), "train_seconds": 900.0 * (s + 1)}
                                  for a, s, acc in units}}}


def test_rows_give_seed_means_with_t_intervals_and_table2():
    full = _doc([("routing-all-fc", 0, [0.9, 0.97]), ("routing-all-fc", 1, [0.9, 0.98]),
                 ("routing-all-fc", 2, [0.99, 0.99]), ("cross-stitch-all-fc", 0, [0.9, 0.91, 0.92])], 100)
    quick = _doc([("routing-all-fc", 0, [0.5, 0.6])], 4)
    rows = accuracy_profile_rows({"quick": quick, "full": full}, {"routing-all-fc": 99})
    assert [(r["profile"], r["architecture"]) for r in rows] == [
        ("quick", "routing-all-fc"), ("full", "routing-all-fc"), ("full", "cross-stitch-all-fc")]
    q, r, cs = rows
    assert q["final test acc (%)"] == "60 (n=1)" and q["train samples"] == 4 and q["Table 2 (%)"] == 99
    # 97, 98, 99: mean 98, sd 1, t(0.975, 2) = 4.303 -> half-width 4.303 / sqrt(3) = 2.48
    assert r["final test acc (%)"] == "98 ± 2.5 (n=3)" and r["seeds"] == 3 and r["epochs"] == "2"
    assert r["best epoch (%)"] == pytest.approx(98.0)
    assert cs["epochs"] == "3" and cs["Table 2 (%)"] is None and cs["final test acc (%)"] == "92 (n=1)"
    assert r["training (h)"] == 1.5 and cs["training (h)"] == 0.25   # (900 + 1800 + 2700) s; 900 s


def test_epochs_show_the_range_when_seeds_stopped_at_different_epochs():
    doc = _doc([("task-specific-all-fc", 0, [0.9] * 19), ("task-specific-all-fc", 1, [0.9] * 34)], 100)
    assert accuracy_profile_rows({"paper": doc})[0]["epochs"] == "19–34"


def test_unit_rows_give_each_seed_its_epochs_hours_final_and_best_accuracy():
    doc = _doc([("routing-all-fc", 0, [0.9, 0.97, 0.96]), ("cross-stitch-all-fc", 1, [0.5, 0.91234])], 100)
    assert unit_rows(doc["results"]) == [
        {"architecture": "routing-all-fc", "seed": 0, "epochs run": 3, "training time (h)": 0.25,
         "final test accuracy (%)": 96.0, "best epoch (%)": 97.0},
        {"architecture": "cross-stitch-all-fc", "seed": 1, "epochs run": 2, "training time (h)": 0.5,
         "final test accuracy (%)": 91.23, "best epoch (%)": 91.23}]


def _per_task_doc() -> dict:
    doc = _doc([("routing-all-fc", 2, [0.9, 0.95]), ("routing-all-fc", 0, [0.9, 0.99]),
                ("cross-stitch-all-fc", 0, [0.9, 0.9])], 100)
    per_task = {"routing-all-fc-seed2": [[0.9, 0.9, 0.9], [1.0, 0.885, 0.9651]],
                "routing-all-fc-seed0": [[0.9, 0.9, 0.9], [0.995, 1.0, 0.975]],
                "cross-stitch-all-fc-seed0": [[0.9, 0.9, 0.9], [0.9, 0.9, 0.9]]}
    for key, acc in per_task.items():
        doc["results"]["units"][key]["per_task_accuracy"] = acc
    doc["results"]["task_names"] = ["digit 0", "digit 1", "digit 2"]
    return doc


def test_final_task_accuracy_rows_give_each_seed_the_last_epoch_of_every_task_in_seed_order():
    assert final_task_accuracy_rows(_per_task_doc()["results"], "routing-all-fc") == [
        {"seed": 0, "digit 0": 99.5, "digit 1": 100.0, "digit 2": 97.5},
        {"seed": 2, "digit 0": 100.0, "digit 1": 88.5, "digit 2": 96.5}]


def test_final_task_accuracy_rows_of_an_architecture_not_in_the_file_say_which_are():
    with pytest.raises(ValueError, match=r"no units of architecture 'soft-mixture-all-fc'.*'cross-stitch-all-fc'"):
        final_task_accuracy_rows(_per_task_doc()["results"], "soft-mixture-all-fc")


def _sweep() -> dict:
    runs = [{"wpl_lr": 0.01, "rho": 0.3, "val_accuracy": [0.98, 0.991], "train_seconds": 120.0},
            {"wpl_lr": 0.1, "rho": 0.3, "val_accuracy": [0.97, 0.993], "train_seconds": 60.0},
            {"wpl_lr": 0.001, "rho": 0.3, "val_accuracy": [0.97, 0.990], "train_seconds": 60.0},
            {"wpl_lr": 0.01, "rho": 0.0, "val_accuracy": [0.97, 0.995], "train_seconds": 60.0}]
    return {"base": {"wpl_lr": 0.01, "rho": 0.3}, "chosen": {"wpl_lr": 0.01, "rho": 0.0}, "runs": runs}


def test_sweep_rows_say_what_each_point_varies_and_mark_the_chosen_one():
    rows = sweep_rows(_sweep())
    assert [r["varies"] for r in rows] == ["base point", "step size", "step size", "ρ"]
    assert [r["chosen"] for r in rows] == ["", "", "", "✓"]
    assert [r["validation acc after 2 epochs (%)"] for r in rows] == [99.1, 99.3, 99.0, 99.5]
    assert rows[0]["training (min)"] == 2.0


def test_sweep_rows_of_a_several_seed_sweep_give_each_seed_and_the_interval():
    sweep = _sweep()
    sweep["runs"][0]["val_accuracy_per_seed"] = {"0": [0.98, 0.99], "1": [0.98, 0.992], "10": [0.98, 0.991]}
    row = sweep_rows(sweep)[0]
    assert row["per seed (%)"] == "99.00, 99.20, 99.10"        # seeds in numeric order: 0, 1, 10
    assert row["95% interval"] == str(mean_interval([99.0, 99.2, 99.1]))
    assert "per seed (%)" not in sweep_rows(sweep)[1]          # a point swept on one seed has no spread


def test_sweep_series_are_the_two_coordinate_lines_sorted():
    series = sweep_series(_sweep())
    assert series["rho"] == ([0.0, 0.3], [pytest.approx(99.5), pytest.approx(99.1)])
    assert series["wpl_lr"][0] == [0.001, 0.01, 0.1]
    assert series["wpl_lr"][1] == pytest.approx([99.0, 99.1, 99.3])


def test_base_vs_chosen_rows_pair_the_seeds_and_give_the_difference_with_its_interval():
    sweep = dict(_sweep(), architecture="routing-all-fc",
                 base_units={f"seed{s}": {"seed": s, "test_accuracy": [0.5, a]} for s, a in ((0, 0.99), (1, 0.98),
                                                                                           (2, 0.97))})
    units = {f"routing-all-fc-lr0.01-rho0-seed{s}": {"architecture": "routing-all-fc", "seed": s,
                                                     "test_accuracy": [a]} for s, a in ((0, 0.995), (1, 0.975),
                                                                                        (2, 0.985))}
    units["cross-stitch-all-fc-seed0"] = {"architecture": "cross-stitch-all-fc", "seed": 0, "test_accuracy": [0.5]}
    rows = base_vs_chosen_rows({"router_sweep": sweep, "units": units})
    assert [r["seed"] for r in rows] == ["0", "1", "2", "mean"]
    assert [r["chosen − base (points)"] for r in rows[:3]] == [0.5, -0.5, 1.5]
    assert rows[0]["base: step 0.01, ρ 0.3 (%)"] == 99.0 and rows[0]["chosen: step 0.01, ρ 0 (%)"] == 99.5
    # differences 0.5, -0.5, 1.5: mean 0.5, sd 1, half-width 4.303 / sqrt(3) = 2.48
    assert rows[3]["chosen − base (points)"] == "0.5 ± 2.5 (n=3)" and rows[3]["base: step 0.01, ρ 0.3 (%)"] == 98.0
    assert base_vs_chosen_rows({"router_sweep": dict(sweep, base_units={}), "units": units}) == []


def test_lagging_seed_tasks_list_each_task_of_the_seeds_that_fell_behind_with_its_route():
    base_units = {f"seed{s}": {"seed": s, "test_accuracy": [0.99]} for s in (0, 1)}
    sweep = dict(_sweep(), architecture="routing-all-fc", base_units=base_units)
    routing_map = [[[5, 1], [0, 6]], [[0, 6], [6, 0]]]   # (tasks, layers, blocks): task 0 -> [0, 1], 1 -> [1, 0]
    units = {f"u{s}": {"architecture": "routing-all-fc", "seed": s, "test_accuracy": [acc], "routing_map": routing_map,
                       "per_task_accuracy": [[1.0, 0.875]]} for s, acc in ((0, 0.985), (1, 0.95))}
    rows = lagging_seed_tasks({"router_sweep": sweep, "units": units})
    assert rows == [{"seed": 1, "task": 0, "test acc (%)": 100.0, "greedy route": [0, 1]},
                    {"seed": 1, "task": 1, "test acc (%)": 87.5, "greedy route": [1, 0]}]   # seed 0: only -0.5
    assert lagging_seed_tasks({"router_sweep": sweep, "units": units}, points=5.0) == []


def test_route_sharing_rows_separate_tasks_with_their_own_route_from_tasks_that_share_one():
    def unit(arch, seed, routes, accuracy):   # one test sample per task, sent along its route
        counts = np.zeros((len(routes), len(routes[0]), 3), dtype=int)
        for t, route in enumerate(routes):
            counts[t, range(len(route)), route] = 1
        return {"architecture": arch, "seed": seed, "routing_map": counts.tolist(), "per_task_accuracy": [accuracy]}

    results = {"units": {"a": unit("routing-all-fc", 1, [[0, 1], [2, 2], [0, 1], [1, 0]], [0.885, 0.99, 0.875, 1.0]),
                         "b": unit("routing-all-fc", 0, [[0, 1], [1, 0], [2, 2]], [1.0, 0.995, 0.98]),
                         "c": {"architecture": "cross-stitch-all-fc", "seed": 0, "per_task_accuracy": [[0.99]]}},
               "first_tasks": {"units": {"d": unit("routing-all-fc", 0, [[1, 1], [1, 1]], [0.87, 0.925])}}}
    rows = route_sharing_rows(results)
    assert [(r["tasks"], r["seed"]) for r in rows] == [(2, 0), (3, 0), (4, 1)]   # no map, no row
    first2, main0, main1 = rows
    assert main0["tasks sharing a route"] == "none" and main0["weakest own route (%)"] == 98.0
    assert main0["strongest shared route (%)"] is None and main0["mean of sharing tasks (%)"] is None
    assert main1["tasks sharing a route"] == "0+2" and main1["weakest own route (%)"] == 99.0
    assert main1["strongest shared route (%)"] == 88.5 and main1["mean of sharing tasks (%)"] == 88.0
    assert first2["tasks sharing a route"] == "0+1" and first2["weakest own route (%)"] is None
    assert first2["mean of sharing tasks (%)"] == pytest.approx(89.75)
    assert route_sharing_rows(results, architectures=["cross-stitch-all-fc"]) == []
    assert len(route_sharing_rows(results, architectures={"routing-all-fc"})) == 3
    assert {r["samples on greedy route (min %)"] for r in rows} == {100.0}   # one sample per task, on its route
    assert [r["greedy blocks per layer"] for r in rows] == ["1, 1", "3, 3", "3, 3"]


def test_route_sharing_rows_say_how_many_samples_a_sample_reading_router_sends_along_the_greedy_routes():
    # tasks 0 and 1 have the same greedy route, but 1 of task 1's 4 samples leaves it at layer 1
    routing_map = [[[4, 0], [0, 4]], [[4, 0], [1, 3]], [[0, 4], [4, 0]]]
    unit = {"architecture": "qlearning-approx", "seed": 0, "routing_map": routing_map,
            "per_task_accuracy": [[0.99, 0.98, 1.0]]}
    (row,) = route_sharing_rows({"units": {"u": unit}})
    assert row["tasks sharing a route"] == "0+1" and row["samples on greedy route (min %)"] == 75.0
