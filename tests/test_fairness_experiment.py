"""The fairness chapter's analysis (Zhang et al., 2021, Tables 1-3) on synthetic runs with known structure."""

from __future__ import annotations

import dataclasses
import re

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


def _paper_doc(name, hv_signs, pd_signs, sp_signs, trials=15, **config_changes):
    import dataclasses

    from mtlnotes.experiments.fairness import PAPER

    variants = ("F_EI", "F_EG", "F_E")
    row = lambda signs: {"F_EIG": {"sign": "", "mean": 1.0},  # noqa: E731
                         **{v: {"sign": s, "mean": 0.5} for v, s in zip(variants, signs)}}
    config = dataclasses.asdict(dataclasses.replace(PAPER, datasets=(name,), **config_changes))
    return {"config": config, "provenance": {"git_commit": "abc", "device": "cpu"},
            "results": {"trials": trials, "datasets": {name: {
                "table1": row(hv_signs), "table2": {}, "n": {"train": 1},
                "table3": {"PD": row(pd_signs), "spacing": row(sp_signs)}}}}}


def test_the_counted_claims_are_judged_over_the_three_paper_files():
    from mtlnotes.experiments.fairness import PAPER, claims, combine_paper_files

    docs = {"german": _paper_doc("german", "≈--", "---", "≈≈-"), "compas": _paper_doc("compas", "-≈-", "≈--", "≈≈≈"),
            "adult": _paper_doc("adult", "---", "---", "---")}
    combined = combine_paper_files(docs)
    assert combined["trials"] == 15 and list(combined["datasets"]) == ["german", "compas", "adult"]
    hv, div = claims(combined, PAPER)[:2]
    assert (hv.ours, hv.holds) == ("7 of 9", True)  # 2 + 2 + 3 wins: as many as the paper's 7
    assert (div.ours, div.holds) == ("12 of 18", False)  # 4 + 2 + 6 wins, fewer than 16
    docs["adult"] = _paper_doc("adult", "--≈", "---", "---")
    assert claims(combine_paper_files(docs), PAPER)[0].holds is False


@pytest.mark.parametrize("change, says", [
    ({"adult": None}, "missing: fairness_adult-paper.json"),
    ({"compas": _paper_doc("compas", "---", "---", "---", epochs=2)}, "fairness_compas-paper.json was not run with"),
    ({"german": _paper_doc("german", "---", "---", "---", trials=4)}, "different numbers of trials ([4, 15])"),
])
def test_combining_paper_files_refuses_incomplete_or_mismatched_files(change, says):
    from mtlnotes.experiments.fairness import combine_paper_files

    docs = {n: _paper_doc(n, "---", "---", "---") for n in ("german", "compas", "adult")} | change
    with pytest.raises(ValueError, match=re.escape(says)):
        combine_paper_files(docs)


def test_combine_writes_the_counted_claims_from_the_results_folder(tmp_path, monkeypatch):
    import json

    from mtlnotes.experiments import fairness

    for name in ("german", "compas", "adult"):
        (tmp_path / f"fairness_{name}-paper.json").write_text(json.dumps(
            {"chapter": f"fairness_{name}", "profile": "paper", "claims": [],
             **_paper_doc(name, "-≈-", "---", "≈≈≈")}))
    monkeypatch.setenv("MTLNOTES_RESULTS", str(tmp_path))
    out = tmp_path / "out" / "fairness-paper.json"
    fairness.main(["--combine", "--profile", "paper", "--out", str(out)])
    doc = json.loads(out.read_text())
    assert doc["chapter"] == "fairness" and doc["profile"] == "paper"
    assert [(c["ours"], c["holds"]) for c in doc["claims"]] == [("6 of 9", False), ("9 of 18", False)]
    assert [s["file"] for s in doc["results"]["sources"]] == [f"fairness_{n}-paper.json" for n in
                                                              ("german", "compas", "adult")]
