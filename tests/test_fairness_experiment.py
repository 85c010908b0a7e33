"""The fairness chapter's analysis (Zhang et al., 2021, Tables 1-3) on synthetic runs with known structure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mtlnotes.experiments.fairness import QUICK, analyse, claims


def _runs(shift: dict[str, float], trials: int = 5, seed: int = 0) -> dict:
    """Fake populations: variant v's points are a common front moved by +shift[v] (worse when larger)."""
    out = {}
    for v, s in shift.items():
        rng = np.random.default_rng(seed)  # the same base points for every variant
        out[v] = []
        for _ in range(trials):
            t = rng.random((10, 1))
            F = np.hstack([0.2 + 0.1 * t, 0.1 - 0.05 * t, 0.002 + 0.001 * rng.random((10, 1))]) + s
            out[v].append({"generations": [0, 5], "val": [F + 0.01, F], "test": [F + 0.01, F],
                           "final_val": F, "final_test": F})
    return out


def test_analyse_ranks_a_dominating_variant_best():
    cfg = dataclasses.replace(QUICK, seeds=tuple(range(15)))
    res = analyse(_runs({"F_EIG": 0.0, "F_EI": 0.05, "F_EG": 0.05, "F_E": 0.1}, trials=15), cfg)
    t1 = res["table1"]
    assert t1["F_EIG"]["mean"] > max(t1[v]["mean"] for v in ("F_EI", "F_EG", "F_E"))
    assert all(t1[v]["sign"] == "-" for v in ("F_EI", "F_EG", "F_E"))
    # extreme models of a variant moved by +0.1 are worse on every metric
    assert res["table2"]["best MSE"]["F_E"]["sign"] == ["-", "-", "-"]
    out = claims({"datasets": {"german": res}, "trials": 15}, cfg)
    # the counted claims are over 3 datasets (9 comparisons): one dataset gives the count but no verdict
    assert out[0].ours == "3 of 3" and out[0].holds is None and "9 comparisons" in out[0].note
    assert out[2].ours == "F_EIG" and out[2].holds is True
    three = claims({"datasets": {n: res for n in ("german", "compas", "adult")}, "trials": 15}, cfg)
    assert three[0].ours == "9 of 9" and three[0].holds is True


def test_claims_are_not_judged_from_fewer_than_the_papers_15_trials():
    cfg = dataclasses.replace(QUICK, seeds=tuple(range(5)))
    res = analyse(_runs({"F_EIG": 0.0, "F_EI": 0.05, "F_EG": 0.05, "F_E": 0.1}), cfg)
    out = claims({"datasets": {n: res for n in ("german", "compas", "adult")}, "trials": 5}, cfg)
    assert all(c.holds is None for c in out)
    assert "not judged" in out[0].note


def test_two_trials_give_inconclusive_signs_never_losses():
    cfg = dataclasses.replace(QUICK, seeds=(0, 1))
    res = analyse(_runs({"F_EIG": 0.0, "F_EI": 0.05, "F_EG": 0.05, "F_E": 0.1}, trials=2), cfg)
    assert all(res["table1"][v]["sign"] == "?" for v in ("F_EI", "F_EG", "F_E"))
    out = claims({"datasets": {"german": res}, "trials": 2}, cfg)
    assert out[0].ours == "0 of 3 (3 inconclusive)" and out[0].holds is None


def test_analyse_hv_of_identical_variants_is_equal():
    cfg = dataclasses.replace(QUICK, seeds=tuple(range(5)))
    res = analyse(_runs({"F_EIG": 0.0, "F_EI": 0.0, "F_EG": 0.0, "F_E": 0.0}), cfg)
    means = [res["table1"][v]["mean"] for v in ("F_EIG", "F_EI", "F_EG", "F_E")]
    assert means == pytest.approx([means[0]] * 4)
    assert all(res["table1"][v]["sign"] == "≈" for v in ("F_EI", "F_EG", "F_E"))


def test_counted_claims_so_far_add_up_the_datasets_that_have_files():
    from mtlnotes.experiments.fairness import counted_claims_so_far

    def doc(name, hv_signs, pd_signs, sp_signs):
        variants = ("F_EI", "F_EG", "F_E")
        row = lambda signs: {"F_EIG": {"sign": ""}, **{v: {"sign": s} for v, s in zip(variants, signs)}}  # noqa: E731
        return {"results": {"datasets": {name: {"table1": row(hv_signs),
                                                "table3": {"PD": row(pd_signs), "spacing": row(sp_signs)}}}}}

    docs = {"german": doc("german", "≈--", "--?", "≈≈-"), "compas": doc("compas", "-≈-", "≈--", "≈≈≈"), "adult": None}
    hv, div = counted_claims_so_far(docs)
    assert (hv["wins"], hv["comparisons"], hv["inconclusive"]) == (4, 6, 0)
    assert (div["wins"], div["comparisons"], div["inconclusive"]) == (5, 12, 1)
    assert hv["datasets"] == "german, compas" and hv["paper"] == "7 of 9"
