"""Tables of the RL-AUX chapter (:mod:`mtlnotes.experiments.rl_aux`) from its results files: every profile side by
side with intervals over seeds, and how far the RL policies moved from uniform."""

from __future__ import annotations

import numpy as np

from mtlnotes.auxiliary.weights import N_WEIGHT_BINS
from mtlnotes.stats import compare, mean_interval

__all__ = ["runs_by_seed", "profile_rows", "policy_rows"]


def runs_by_seed(runs: list[dict], method: str) -> dict[int, dict]:
    """``method``'s runs keyed by seed (what paired comparisons over seeds line up on)."""
    return {r["seed"]: r for r in runs if r["method"] == method}


def profile_rows(docs: dict[str, dict], baseline: str = "single") -> list[dict]:
    """The profiles side by side (``docs``: profile -> results file as read by
    :func:`~mtlnotes.results.read_results`, in increasing scale): one row per (profile, method) with the training
    size, epochs and seeds, the mean test accuracy (%) with its 95% t-interval over seeds, the paired difference
    from ``baseline`` in points with its interval, and the mean macro F1 (%) where the runs have it."""
    rows = []
    for profile, doc in docs.items():
        res, cfg = doc["results"], doc["config"]
        base = runs_by_seed(res["runs"], baseline)
        for method in cfg["methods"]:
            runs = runs_by_seed(res["runs"], method)
            if not runs:
                continue
            acc = [100 * r["test_acc"] for r in runs.values()]
            paired = sorted(set(runs) & set(base))
            diff = ("" if method == baseline or not paired else
                    str(compare([100 * runs[s]["test_acc"] for s in paired],
                                [100 * base[s]["test_acc"] for s in paired])))
            f1 = [100 * r["test_f1"] for r in runs.values() if "test_f1" in r]
            rows.append({"profile": profile, "method": method, "train images": res["data"]["n_train"],
                         "epochs": cfg["epochs"], "seeds": len(acc), "test Acc (%)": str(mean_interval(acc)),
                         f"− {baseline} (points)": diff,
                         "macro F1 (%)": round(float(np.mean(f1)), 2) if len(f1) == len(acc) else None})
    return rows


def policy_rows(results: dict) -> list[dict]:
    """For each RL run (method × seed × λ) that recorded it, the policy's mean top sub-class probability after the
    first and the last epoch against the uniform 1/ψ, and the same for WA-RL's weight bins against 1/21."""
    psi = results["data"]["psi"]
    rows = []
    for r in list(results["runs"]) + [a for a in results.get("ablation", []) if a not in results["runs"]]:
        top = r.get("policy_top_prob")
        if not top:
            continue
        row = {"method": r["method"], "seed": r["seed"], "λ": r["aux_weight"], "epochs": len(top),
               "sub-class top p, first epoch": round(top[0], 3), "sub-class top p, last epoch": round(top[-1], 3),
               "sub-class uniform": round(1 / psi, 3)}
        w = r.get("weight_top_prob")
        if w:
            row.update({"weight-bin top p, first epoch": round(w[0], 3),
                        "weight-bin top p, last epoch": round(w[-1], 3),
                        "weight-bin uniform": round(1 / N_WEIGHT_BINS, 3)})
        rows.append(row)
    return rows
