"""Tables of the routing chapter (:mod:`mtlnotes.experiments.routing`): every profile that has a results file side
by side, with the test accuracy of each architecture as a mean and 95% t-interval over seeds (Table 2's rows); the
validation sweep of the router's step size and ρ (:mod:`mtlnotes.routing.sweep`) as a table and as two series;
the accuracy on the first n tasks (Figure 15); the tasks that share a whole route (:mod:`mtlnotes.routing.routes`)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from mtlnotes.routing.routes import greedy_blocks_per_layer, greedy_route_share, greedy_routes, shared_route_groups
from mtlnotes.stats import compare, mean_interval

__all__ = ["accuracy_profile_rows", "unit_rows", "final_task_accuracy_rows", "sweep_rows", "sweep_series",
           "base_vs_chosen_rows", "lagging_seed_tasks", "first_tasks_accuracy", "first_tasks_rows",
           "route_sharing_rows"]


def accuracy_profile_rows(docs: dict[str, dict], table2: dict[str, float] | None = None) -> list[dict]:
    """One row per (profile, architecture): training samples, seeds, epochs run (the fewest and the most over
    seeds), the test accuracy (%) after the last epoch run as a mean with its 95% t-interval over seeds (just the
    value for one seed), the best epoch's accuracy averaged over seeds, Table 2's number (after 100 epochs)
    where ``table2`` has the architecture, and the training time of all its seeds in hours (one thread each).
    ``docs``: profile -> results file as read by :func:`~mtlnotes.results.read_results`, in increasing scale;
    architectures in the order the file lists them."""
    rows = []
    for profile, doc in docs.items():
        res = doc["results"]
        by_arch: dict[str, list[dict]] = {}
        for unit in res["units"].values():
            by_arch.setdefault(unit["architecture"], []).append(unit)
        for name, units in by_arch.items():
            final = mean_interval([100 * u["test_accuracy"][-1] for u in units])
            best = mean_interval([100 * max(u["test_accuracy"]) for u in units])
            epochs = sorted(u["epochs_run"] for u in units)
            rows.append({"profile": profile, "architecture": name, "train samples": res["sizes"]["train"],
                         "seeds": len(units),
                         "epochs": str(epochs[0]) if epochs[0] == epochs[-1] else f"{epochs[0]}–{epochs[-1]}",
                         "final test acc (%)": str(final), "best epoch (%)": round(best.mean, 2),
                         "Table 2 (%)": (table2 or {}).get(name),
                         "training (h)": round(sum(u["train_seconds"] for u in units) / 3600, 2)})
    return rows


def unit_rows(results: dict) -> list[dict]:
    """One row per unit (architecture and seed) of a results file's "results", in the file's order: epochs run,
    training time in hours, the test accuracy (%) after the last epoch and at the best epoch. The seed-level view
    behind :func:`accuracy_profile_rows`."""
    return [{"architecture": u["architecture"], "seed": u["seed"], "epochs run": u["epochs_run"],
             "training time (h)": round(u["train_seconds"] / 3600, 2),
             "final test accuracy (%)": round(100 * u["test_accuracy"][-1], 2),
             "best epoch (%)": round(100 * max(u["test_accuracy"]), 2)}
            for u in results["units"].values()]


def final_task_accuracy_rows(results: dict, architecture: str) -> list[dict]:
    """One row per seed of ``architecture`` in a results file's "results": the test accuracy (%) of each task after
    the last epoch, one column per task name (``results["task_names"]``), seeds in increasing order. Shows which
    tasks a seed's routes never learned (a binary MNIST-MTL task at 90% predicts "no" throughout)."""
    units = sorted((u for u in results["units"].values() if u["architecture"] == architecture),
                   key=lambda u: u["seed"])
    if not units:
        raise ValueError(f"no units of architecture {architecture!r} in these results; they have "
                         f"{sorted({u['architecture'] for u in results['units'].values()})}")
    return [{"seed": u["seed"], **{name: round(100 * a, 1)
                                   for name, a in zip(results["task_names"], u["per_task_accuracy"][-1])}}
            for u in units]


def sweep_rows(sweep: dict) -> list[dict]:
    """One row per point of the validation sweep (``results["router_sweep"]`` of the routing chapter): the WPL step
    size, ρ, which coordinate the point varies from the base point, the validation accuracy (%) after the last
    epoch (the mean over the sweep's seeds, with each seed's value and the 95% t-interval when there are several),
    whether it was chosen, and its training minutes (all seeds). In grid order."""
    base, chosen = sweep["base"], sweep["chosen"]
    rows = []
    for r in sweep["runs"]:
        varies = ("base point" if (r["wpl_lr"], r["rho"]) == (base["wpl_lr"], base["rho"]) else
                  "step size" if r["rho"] == base["rho"] else "ρ")
        row = {"WPL step size": r["wpl_lr"], "ρ": r["rho"], "varies": varies,
               f"validation acc after {len(r['val_accuracy'])} epochs (%)": round(100 * r["val_accuracy"][-1], 2)}
        per_seed = r.get("val_accuracy_per_seed") or {}
        if len(per_seed) > 1:
            finals = [100 * per_seed[k][-1] for k in sorted(per_seed, key=int)]
            row["per seed (%)"] = ", ".join(f"{v:.2f}" for v in finals)
            row["95% interval"] = str(mean_interval(finals))
        row.update({"chosen": "✓" if (r["wpl_lr"], r["rho"]) == (chosen["wpl_lr"], chosen["rho"]) else "",
                    "training (min)": round(r["train_seconds"] / 60, 1)})
        rows.append(row)
    return rows


def sweep_series(sweep: dict) -> dict[str, tuple[list[float], list[float]]]:
    """The sweep's two coordinate lines for a figure: ``"rho"`` -> (ρ values, final validation accuracy %) at the
    base step size (Figure 12's question), ``"wpl_lr"`` -> (step sizes, accuracy %) at the base ρ; each sorted."""
    base = sweep["base"]

    def line(vary: str, fixed: str) -> tuple[list[float], list[float]]:
        pts = sorted((r[vary], 100 * r["val_accuracy"][-1]) for r in sweep["runs"] if r[fixed] == base[fixed])
        return [x for x, _ in pts], [y for _, y in pts]

    return {"rho": line("rho", "wpl_lr"), "wpl_lr": line("wpl_lr", "rho")}


def base_vs_chosen_rows(results: dict) -> list[dict]:
    """The swept architecture's test accuracy (%) after the last epoch at the sweep's base point and at the chosen
    point, per seed, with the paired difference (points), and a last row with the means and the difference's
    95% t-interval. ``results``: a routing results file's ``results`` whose ``router_sweep`` has ``base_units``
    (empty when the sweep chose the base point itself)."""
    sweep = results["router_sweep"]
    base_units = sweep.get("base_units") or {}
    name, base, chosen = sweep["architecture"], sweep["base"], sweep["chosen"]
    at_chosen = {u["seed"]: 100 * u["test_accuracy"][-1] for u in results["units"].values()
                 if u["architecture"] == name}
    at_base = {u["seed"]: 100 * u["test_accuracy"][-1] for u in base_units.values()}
    seeds = sorted(set(at_chosen) & set(at_base))
    if not seeds:
        return []
    b_col = f"base: step {base['wpl_lr']:g}, ρ {base['rho']:g} (%)"
    c_col = f"chosen: step {chosen['wpl_lr']:g}, ρ {chosen['rho']:g} (%)"
    rows = [{"seed": str(s), b_col: round(at_base[s], 2), c_col: round(at_chosen[s], 2),
             "chosen − base (points)": round(at_chosen[s] - at_base[s], 2)} for s in seeds]
    diff = compare([at_chosen[s] for s in seeds], [at_base[s] for s in seeds])
    rows.append({"seed": "mean", b_col: round(mean_interval([at_base[s] for s in seeds]).mean, 2),
                 c_col: round(mean_interval([at_chosen[s] for s in seeds]).mean, 2),
                 "chosen − base (points)": str(diff)})
    return rows


def lagging_seed_tasks(results: dict, points: float = 1.0) -> list[dict]:
    """For each seed on which the swept architecture at the chosen point ends more than ``points`` below the base
    point (:func:`base_vs_chosen_rows`), one row per task: its test accuracy (%) after the last epoch and its greedy
    route (the block each routed layer uses most on the task's test samples, from the unit's routing map)."""
    lagging = {int(r["seed"]) for r in base_vs_chosen_rows(results)[:-1] if r["chosen − base (points)"] < -points}
    name = results["router_sweep"]["architecture"]
    rows = []
    for u in results["units"].values():
        if u["architecture"] == name and u["seed"] in lagging:
            routes = greedy_routes(u["routing_map"])
            rows += [{"seed": u["seed"], "task": t, "test acc (%)": round(100 * a, 1), "greedy route": r.tolist()}
                     for t, (a, r) in enumerate(zip(u["per_task_accuracy"][-1], routes))]
    return rows


def first_tasks_accuracy(results: dict) -> tuple[dict[str, dict[int, dict[int, float]]], int]:
    """Figure 15's accuracy on the first n tasks, from a results file's "results" with ``first_tasks``:
    ``({architecture: {n: {seed: test accuracy (%)}}}, epoch)``, where n runs over the file's task counts and all
    the tasks (the main units of the same architectures), each accuracy taken after the same epoch, the fewest any
    of these units ran. ``({}, 0)`` when the file has no such units."""
    first = results.get("first_tasks")
    if not first:
        return {}, 0
    names = {u["architecture"] for u in first["units"].values()}
    units = [dict(u) for u in first["units"].values()]
    units += [dict(u, n_tasks=first["all_tasks"]) for u in results["units"].values()
              if u is not None and u["architecture"] in names]
    if not units:
        return {}, 0
    epoch = min(u["epochs_run"] for u in units)
    out: dict[str, dict[int, dict[int, float]]] = {}
    for u in sorted(units, key=lambda u: (u["n_tasks"], u["seed"])):
        out.setdefault(u["architecture"], {}).setdefault(u["n_tasks"], {})[u["seed"]] = \
            100 * u["test_accuracy"][epoch - 1]
    return out, epoch


def first_tasks_rows(results: dict) -> list[dict]:
    """One row per (number of tasks, architecture) of :func:`first_tasks_accuracy`: seeds, the test accuracy (%) as
    a mean with its 95% t-interval over seeds, and the epoch it is taken after."""
    acc, epoch = first_tasks_accuracy(results)
    counts = sorted({n for per_n in acc.values() for n in per_n})
    return [{"tasks": n, "architecture": name, "seeds": len(acc[name][n]),
             "test acc (%)": str(mean_interval(list(acc[name][n].values()))), "after epoch": epoch}
            for n in counts for name in acc if n in acc[name]]


def route_sharing_rows(results: dict, architectures: Collection[str] | None = None) -> list[dict]:
    """One row per routed unit of a results file's "results" (its units and Figure 15's first-n units, those with a
    routing map; only those of ``architectures`` where given), ordered by architecture, number of tasks and seed:
    the groups of tasks that share a whole greedy route (:func:`~mtlnotes.routing.routes.shared_route_groups`,
    written "4+6, 8+9"; "none" when every route is the task's own), and the test accuracy (%) after the last epoch
    of the weakest task with a route of its own, of the strongest task that shares one and the mean over the
    sharing tasks (None where there is no such task); and the lowest share (%) of a task's test samples on its greedy
    block at any layer (:func:`~mtlnotes.routing.routes.greedy_route_share`): 100 where every sample of every task
    takes its task's route (routers that choose by task and depth), below 100 where the router also reads the
    sample, so that tasks "sharing" a greedy route share only their most used blocks; and the number of distinct
    blocks on the tasks' greedy routes at each routed layer (:func:`~mtlnotes.routing.routes.greedy_blocks_per_layer`,
    written "1, 1, 7"): 1 where every task goes through one block, so that a route of its own differs from the
    others' only at the other layers."""
    units = [u for u in results["units"].values() if u is not None and "routing_map" in u]
    units += [u for u in results.get("first_tasks", {}).get("units", {}).values() if "routing_map" in u]
    if architectures is not None:
        units = [u for u in units if u["architecture"] in architectures]
    rows = []
    for u in units:
        groups = shared_route_groups(greedy_routes(u["routing_map"]))
        accuracy = [100 * a for a in u["per_task_accuracy"][-1]]
        sharing = sorted(t for group in groups for t in group)
        own = [a for t, a in enumerate(accuracy) if t not in sharing]
        shared = [accuracy[t] for t in sharing]
        rows.append({"architecture": u["architecture"], "tasks": len(accuracy), "seed": u["seed"],
                     "tasks sharing a route": ", ".join("+".join(map(str, g)) for g in groups) or "none",
                     "weakest own route (%)": round(min(own), 2) if own else None,
                     "strongest shared route (%)": round(max(shared), 2) if shared else None,
                     "mean of sharing tasks (%)": round(float(np.mean(shared)), 2) if shared else None,
                     "samples on greedy route (min %)": round(100 * float(greedy_route_share(u["routing_map"]).min()),
                                                              1),
                     "greedy blocks per layer": ", ".join(map(str, greedy_blocks_per_layer(u["routing_map"])))})
    return sorted(rows, key=lambda r: (r["architecture"], r["tasks"], r["seed"]))
