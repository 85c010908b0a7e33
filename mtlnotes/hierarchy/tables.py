"""Tables of the MMF chapter (:mod:`mtlnotes.experiments.mmf`) from its results: one run's main comparison, and
every profile that has a results file side by side with intervals over seeds."""

from __future__ import annotations

from mtlnotes.stats import compare, mean_interval

__all__ = ["summary_table", "profile_rows"]


def summary_table(results: dict, backbone: str) -> list[dict]:
    """Rows (method, mean ± std of Acc, F_Ha in %, TIE_a, LCA_a) of one backbone's main comparison."""
    rows = []
    for method, r in results["backbones"][backbone]["main"].items():
        m, s = r["mean"], r["std"]
        rows.append({"method": method, "Acc (%)": f"{100 * m['acc']:.2f} ± {100 * s['acc']:.2f}",
                     "F_Ha (%)": f"{100 * m['f_ha']:.2f} ± {100 * s['f_ha']:.2f}",
                     "TIE_a": f"{m['tie_a']:.4f} ± {s['tie_a']:.4f}", "LCA_a": f"{m['lca_a']:.4f} ± {s['lca_a']:.4f}"})
    return rows


def profile_rows(docs: dict[str, dict], baseline: str = "w/o H") -> list[dict]:
    """The profiles side by side (``docs``: profile -> results file as read by
    :func:`~mtlnotes.results.read_results`, in increasing scale): one row per (profile, backbone, method) with the
    training size, epochs and seeds, the mean accuracy (%) with its 95% t-interval over seeds, the paired
    difference from ``baseline`` in points with its interval, and the mean TIE_a."""
    rows = []
    for profile, doc in docs.items():
        res, cfg = doc["results"], doc["config"]
        for backbone, bb in res["backbones"].items():
            base = [100 * r["acc"] for r in bb["main"][baseline]["per_seed"]] if baseline in bb["main"] else None
            for method, r in bb["main"].items():
                acc = [100 * s["acc"] for s in r["per_seed"]]
                rows.append({"profile": profile, "backbone": backbone, "method": method,
                             "train images": res["n_train"], "epochs": cfg["train"]["epochs"], "seeds": len(acc),
                             "Acc (%)": str(mean_interval(acc)),
                             f"− {baseline} (points)": "" if base is None or method == baseline
                             else str(compare(acc, base)),
                             "TIE_a": round(r["mean"]["tie_a"], 4)})
    return rows
