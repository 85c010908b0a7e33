"""The indicators and counts of Zhang et al. (ICANN 2021, §4.1-4.2) from finished MOEL runs.

:func:`analyse_runs` turns the runs of one dataset (every variant, every trial) into what the paper reports:
hypervolume over the generations (Figs. 2-3), Tables 1-3 with Wilcoxon rank-sum signs against F_EIG, and the
points of Figs. 1 and 4. :func:`counted_claims_so_far` counts the comparisons behind "7 of 9" and "16 of 18".
"""

from __future__ import annotations

import numpy as np

from mtlnotes.fairness.indicators import (INCONCLUSIVE, hypervolume, nondominated_mask, normalize, pure_diversity,
                                          spacing, wilcoxon_sign)
from mtlnotes.fairness.moel import VARIANTS

__all__ = ["analyse_runs", "count_wins", "counted_claims_so_far", "losses_against_eig"]


def _nd(F: np.ndarray) -> np.ndarray:
    return F[nondominated_mask(F)]


def _extremes(F_test: np.ndarray) -> list[list[float]]:
    """Table 2: the models non-dominated on test data that are best on MSE, on f_I and on f_G."""
    nd = _nd(F_test)
    return [nd[np.argmin(nd[:, j])].tolist() for j in range(3)]


def analyse_runs(runs: dict[str, list[dict]], nadir: float) -> dict:
    """Indicators of Zhang et al. §4 from the runs of one dataset (``runs[variant]`` = list over trials; the
    Wilcoxon signs need at least two trials and an F_EIG variant).

    * ``hv_test``: per variant, (trials, records) HV on test of (MSE, f_I, f_G), normalised with the pseudo
      Pareto front of all test evaluations of all variants and trials, reference point ``nadir`` in every
      objective (Fig. 3, Table 1);
    * ``hv_val``: per variant, the same on validation with the variant's *own* objectives (Fig. 2);
    * ``table1``/``table2``/``table3``: final-generation HV, extreme non-dominated models, PD and spacing, with
      Wilcoxon signs against F_EIG; ``fronts_val``/``front_eig``: points for Figs. 1 and 4.
    """
    variants = list(runs)
    gens = runs[variants[0]][0]["generations"]
    as_arr = lambda seq: [np.asarray(a, dtype=float) for a in seq]  # noqa: E731
    test = {v: [as_arr(r["test"]) for r in runs[v]] for v in variants}
    val = {v: [as_arr(r["val"]) for r in runs[v]] for v in variants}
    final_test = {v: [np.asarray(r["final_test"], dtype=float) for r in runs[v]] for v in variants}

    all_test = np.concatenate([F for v in variants for trial in test[v] for F in trial])
    pf = _nd(all_test)
    ideal, worst = pf.min(0), pf.max(0)
    ref = np.full(3, nadir)
    hv = lambda F, lo, hi, r: hypervolume(normalize(F, lo, hi), r)  # noqa: E731

    hv_test = {v: [[hv(F, ideal, worst, ref) for F in trial] for trial in test[v]] for v in variants}
    hv_val = {}
    for v in variants:
        obj = list(VARIANTS[v])
        pf_v = _nd(np.concatenate([F[:, obj] for trial in val[v] for F in trial]))
        r = np.full(len(obj), nadir)
        hv_val[v] = [[hv(F[:, obj], pf_v.min(0), pf_v.max(0), r) for F in trial] for trial in val[v]]

    final_hv = {v: [hv(F, ideal, worst, ref) for F in final_test[v]] for v in variants}
    pd_ = {v: [pure_diversity(normalize(_nd(F), ideal, worst)) for F in final_test[v]] for v in variants}
    sp = {v: [spacing(normalize(_nd(F), ideal, worst)) if len(_nd(F)) > 1 else 0.0 for F in final_test[v]]
          for v in variants}
    extremes = {v: [_extremes(F) for F in final_test[v]] for v in variants}  # (trials, 3 kinds, 3 metrics)

    many = len(runs[variants[0]]) >= 2 and "F_EIG" in runs
    sign = lambda a, b, hi: wilcoxon_sign(a, b, higher_is_better=hi) if many else ""  # noqa: E731
    table1 = {v: {"mean": float(np.mean(final_hv[v])), "values": final_hv[v],
                  "sign": "" if v == "F_EIG" else sign(final_hv[v], final_hv["F_EIG"], True)} for v in variants}
    table3 = {}
    for name, vals, hi in (("PD", pd_, True), ("spacing", sp, False)):
        table3[name] = {v: {"mean": float(np.mean(vals[v])), "values": vals[v],
                            "sign": "" if v == "F_EIG" else sign(vals[v], vals["F_EIG"], hi)} for v in variants}
    table2 = {}
    for k, kind in enumerate(("best MSE", "best f_I", "best f_G")):
        table2[kind] = {}
        for v in variants:
            e = np.asarray(extremes[v])[:, k, :]  # (trials, 3 metrics)
            ref_e = np.asarray(extremes["F_EIG"])[:, k, :] if "F_EIG" in runs else e
            table2[kind][v] = {"mean": e.mean(0).tolist(),
                               "sign": ["" if v == "F_EIG" else sign(e[:, j], ref_e[:, j], False) for j in range(3)]}

    fronts_val = {v: [_nd(F[:, list(VARIANTS[v])]).tolist() for F in val[v][0]] for v in variants if v != "F_E"}
    eig_all = np.concatenate([F for trial in test.get("F_EIG", []) for F in trial]) if "F_EIG" in runs else None
    return {
        "generations": gens, "ideal": ideal, "worst": worst, "pseudo_front_size": len(pf),
        "hv_test": hv_test, "hv_val": hv_val, "table1": table1, "table2": table2, "table3": table3,
        "fronts_val_trial0": fronts_val, "front_eig_test": _nd(eig_all).tolist() if eig_all is not None else None,
        "final_test": {v: [F.tolist() for F in final_test[v]] for v in variants},
    }


def count_wins(res: dict, table: str, metric: str | None = None) -> tuple[int, int, int]:
    """(cases where F_EIG is significantly better, cases, cases the trial counts cannot decide) over datasets
    and the three other variants."""
    wins = total = undecidable = 0
    for d in res["datasets"].values():
        t = d[table] if metric is None else d[table][metric]
        for v, row in t.items():
            if v == "F_EIG":
                continue
            total += 1
            wins += row["sign"] == "-"
            undecidable += row["sign"] == INCONCLUSIVE
    return wins, total, undecidable


def counted_claims_so_far(docs: dict[str, dict | None]) -> list[dict]:
    """The counted claims of §4.2 ("7 of 9", "16 of 18") over the datasets whose paper-profile results files
    exist (``docs``: dataset -> results file or None): wins of F_EIG / comparisons / inconclusive ones, and the
    datasets behind them. A partial count is shown, never judged (:func:`claims` judges all three datasets)."""
    merged = {"datasets": {name: doc["results"]["datasets"][name] for name, doc in docs.items() if doc is not None}}
    hv = count_wins(merged, "table1")
    pd_, sp = count_wins(merged, "table3", "PD"), count_wins(merged, "table3", "spacing")
    div = tuple(a + b for a, b in zip(pd_, sp))
    names = ", ".join(merged["datasets"]) or "none"
    return [{"claim": "F_EIG has statistically the best HV", "paper": "7 of 9", "wins": hv[0], "comparisons": hv[1],
             "inconclusive": hv[2], "datasets": names},
            {"claim": "F_EIG has better diversity (PD and spacing)", "paper": "16 of 18", "wins": div[0],
             "comparisons": div[1], "inconclusive": div[2], "datasets": names}]


#: where each indicator's signs are in an analysis of one dataset (Table 1: HV; Table 3: PD and spacing)
_SIGN_TABLES = {"HV": lambda d: d["table1"], "PD": lambda d: d["table3"]["PD"],
                "spacing": lambda d: d["table3"]["spacing"]}


def losses_against_eig(docs: dict[str, dict | None], paper_tables: dict) -> list[dict]:
    """Per variant other than F_EIG: in how many (indicator, dataset) comparisons it is significantly worse than
    F_EIG (sign "-"), in our paper-profile files (``docs``: dataset -> results file or None) and in the paper's
    Tables 1 and 3 (``paper_tables``: indicator -> dataset -> variant -> (value, sign)), over the same datasets."""
    names = [name for name, doc in docs.items() if doc is not None]
    variants = [v for v in next(iter(paper_tables["HV"].values())) if v != "F_EIG"]
    rows = []
    for v in variants:
        ours = paper = total = 0
        for indicator, table in _SIGN_TABLES.items():
            for name in names:
                total += 1
                ours += table(docs[name]["results"]["datasets"][name])[v]["sign"] == "-"
                paper += paper_tables[indicator][name][v][1] == "-"
        rows.append({"variant": v, "worse than F_EIG (ours)": ours, "worse than F_EIG (paper)": paper,
                     "comparisons": total})
    return rows
