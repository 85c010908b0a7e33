"""The indicators and counts of Zhang et al. §4 from finished runs (mtlnotes.fairness.analysis)."""

from __future__ import annotations

import numpy as np

from mtlnotes.fairness.analysis import analyse_runs, count_wins


def _run(F: np.ndarray) -> dict:
    return {"generations": [0, 1], "val": [F, F], "test": [F, F], "final_val": F, "final_test": F}


def test_a_variant_whose_models_all_lie_beyond_the_reference_point_has_zero_hypervolume():
    front = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5], [0.5, 0.5, 0.0]])  # normalised to [0, 1] by itself
    far = front + 10.0  # every model worse than the reference point 1.1 after normalisation
    runs = {"F_EIG": [_run(front)] * 3, "F_E": [_run(far)] * 3}
    res = analyse_runs(runs, nadir=1.1)
    assert res["table1"]["F_E"]["values"] == [0.0, 0.0, 0.0]
    assert res["table1"]["F_EIG"]["mean"] > 0
    # the pseudo front pools every recorded evaluation: 3 trials x 2 records x 3 models, duplicates kept
    assert res["pseudo_front_size"] == 18 and len(res["front_eig_test"]) == 18


def test_count_wins_counts_the_other_variants_worse_than_f_eig():
    def row(*signs):
        return {"F_EIG": {"sign": ""}, **{v: {"sign": s} for v, s in zip(("F_EI", "F_EG", "F_E"), signs)}}

    res = {"datasets": {"a": {"table1": row("-", "≈", "?")}, "b": {"table1": row("-", "-", "+")}}}
    assert count_wins(res, "table1") == (3, 6, 1)  # 3 wins of F_EIG, 6 comparisons, 1 undecidable


def test_losses_against_eig_count_the_minus_signs_ours_and_the_papers():
    """The paper's F_EI is worse than F_EIG in 6 of its 9 comparisons (HV: COMPAS, Adult; PD: all three;
    spacing: German); ours counts the same signs in the files' Tables 1 and 3, only over the datasets present."""
    from mtlnotes.experiments.fairness import PAPER_TABLES
    from mtlnotes.fairness.analysis import losses_against_eig

    def doc(name, sign):
        row = {v: {"sign": sign} for v in ("F_EI", "F_EG", "F_E")}
        return {"results": {"datasets": {name: {"table1": row, "table3": {"PD": row, "spacing": row}}}}}

    docs = {"german": doc("german", "≈"), "compas": doc("compas", "-"), "adult": doc("adult", "≈")}
    rows = {r["variant"]: r for r in losses_against_eig(docs, PAPER_TABLES)}
    assert rows["F_EI"] == {"variant": "F_EI", "worse than F_EIG (ours)": 3, "worse than F_EIG (paper)": 6,
                            "comparisons": 9}
    assert rows["F_E"]["worse than F_EIG (paper)"] == 9
    only = {r["variant"]: r for r in losses_against_eig({"german": docs["german"], "adult": None}, PAPER_TABLES)}
    assert only["F_EI"]["comparisons"] == 3 and only["F_EI"]["worse than F_EIG (paper)"] == 2
