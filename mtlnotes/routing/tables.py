"""Tables of the routing chapter (:mod:`mtlnotes.experiments.routing`): every profile that has a results file side
by side, with the test accuracy of each architecture as a mean and 95% t-interval over seeds (Table 2's rows)."""

from __future__ import annotations

from mtlnotes.stats import mean_interval

__all__ = ["accuracy_profile_rows"]


def accuracy_profile_rows(docs: dict[str, dict], table2: dict[str, float] | None = None) -> list[dict]:
    """One row per (profile, architecture): training samples, seeds, epochs run (the fewest and the most over
    seeds), the test accuracy (%) after the last epoch run as a mean with its 95% t-interval over seeds (just the
    value for one seed), the best epoch's accuracy averaged over seeds, Table 2's number (after 100 epochs)
    where ``table2`` has the architecture, and the training time of all its seeds in hours (one thread each). ``docs``: profile -> results file as read by
    :func:`~mtlnotes.results.read_results`, in increasing scale; architectures in the order the file lists them."""
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
