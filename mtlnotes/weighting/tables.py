"""Tables of the Nash-MTL chapter (:mod:`mtlnotes.experiments.nash_mtl`): every profile that has a results file
side by side, for the toy (§6.1) and for MultiMNIST, with intervals over seeds."""

from __future__ import annotations

from mtlnotes.stats import compare, mean_interval
from mtlnotes.weighting.toy import fragile_starts

__all__ = ["toy_profile_rows", "multimnist_profile_rows"]


def toy_profile_rows(docs: dict[str, dict]) -> list[dict]:
    """One row per (profile, method) of the toy: Adam's steps and learning rate, how many of the starts ended
    on the Pareto front (Pareto-stationary within the profile's tolerance) or stopped early, and how many of those
    verdicts a nudge of the start changes ("—" where the file has no nudged runs). ``docs``: profile ->
    results file as read by :func:`~mtlnotes.results.read_results`, in increasing scale; profiles without a toy
    are skipped."""
    rows = []
    for profile, doc in docs.items():
        toy, cfg = doc["results"].get("toy"), doc["config"]
        for method, runs in (toy or {}).items():
            rows.append({"profile": profile, "method": method, "Adam steps": cfg["toy_steps"], "lr": cfg["toy_lr"],
                         "on the front": f"{sum(r['on_front'] for r in runs)}/{len(runs)}",
                         "stopped early": sum(r["stopped"] is not None for r in runs),
                         "changed by a nudge": len(fragile_starts(runs))
                         if any("nudged_on_front" in r for r in runs) else "—"})
    return rows


def multimnist_profile_rows(docs: dict[str, dict], reference: str = "Nash-MTL") -> list[dict]:
    """One row per (profile, method) of MultiMNIST: training images, epochs and seeds, mean test accuracy of each
    task (%), Δm% (Eq. 8; lower is better) with its 95% t-interval over seeds, the paired difference of Δm% from
    ``reference``'s with its interval (same seed, same data), and the mean rank over seeds' mean accuracies."""
    rows = []
    for profile, doc in docs.items():
        mm, cfg = doc["results"].get("multimnist"), doc["config"]
        if mm is None:
            continue
        per_seed = mm["delta_m_per_seed"]
        for method, dm in per_seed.items():
            left, right = mm["mean_test_acc"][method]
            rows.append({"profile": profile, "method": method, "train images": mm["sizes"]["train"],
                         "epochs": cfg["mm_epochs"], "seeds": len(dm),
                         "left acc (%)": round(100 * left, 2), "right acc (%)": round(100 * right, 2),
                         "Δm% (↓)": str(mean_interval(dm)),
                         f"Δm% − {reference}'s": "" if method == reference or reference not in per_seed
                         else str(compare(dm, per_seed[reference])),
                         "MR (↓)": round(mm["mean_rank"][method], 2)})
    return rows
