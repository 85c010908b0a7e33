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
