"""Nash-MTL's practical speedup (Navon et al. §4): solve for α every N steps, reuse it in between."""

import dataclasses

import pytest

from mtlnotes.experiments import nash_mtl
from mtlnotes.weighting.nash import NashMTL

TINY = dataclasses.replace(nash_mtl.QUICK, seeds=(0,), mm_train=200, mm_val=100, mm_test=100, mm_epochs=1,
                           mm_batch=50)  # 4 training steps per run


def _solves(monkeypatch, every: int) -> tuple[int, dict]:
    calls = []
    solve = NashMTL.weights

    def counting(self, gram):
        calls.append(1)
        return solve(self, gram)

    monkeypatch.setattr(NashMTL, "weights", counting)
    out = nash_mtl.update_frequency_study(TINY, every=(every,), stl_test_acc=[0.5, 0.5])
    return len(calls), out[every]


def test_solving_every_n_steps_cuts_the_solves_and_reports_time_and_delta_m(monkeypatch):
    every_step, res1 = _solves(monkeypatch, 1)
    every_other, res2 = _solves(monkeypatch, 2)
    # 4 training steps (+ 1 for the peak-memory probe): every step solves 5 times, every other step 2 + 1
    assert (every_step, every_other) == (5, 3)
    for res in (res1, res2):
        assert res["time_per_epoch_s"] > 0 and len(res["delta_m_per_seed"]) == 1
        acc = res["mean_test_acc"]
        assert res["delta_m"] == pytest.approx(-50 * sum((a - 0.5) / 0.5 for a in acc))


def test_update_frequency_study_rejects_bad_step_counts():
    with pytest.raises(ValueError, match="every must be a non-empty tuple"):
        nash_mtl.update_frequency_study(TINY, every=(0,))


def _mm(dm_nash, dm_ls, ranks):
    return {"multimnist": {"mean_rank": {"LS": 2.0, "IMTL-G": 1.5, "Nash-MTL": 1.8},
                           "delta_m": {"LS": sum(dm_ls) / 3, "IMTL-G": 5.0, "Nash-MTL": sum(dm_nash) / 3},
                           "delta_m_per_seed": {"LS": dm_ls, "Nash-MTL": dm_nash, "IMTL-G": [5.0] * 3},
                           "mean_rank_per_seed": ranks}}


def _claim(results, start):
    return next(c for c in nash_mtl.claims(results, nash_mtl.QUICK) if c.claim.startswith(start))


def test_nash_against_ls_is_judged_over_paired_seeds():
    ranks = [{"LS": 2, "IMTL-G": 1, "Nash-MTL": 3}] * 3
    clear = _claim(_mm([10.0, 11.0, 12.0], [20.0, 21.0, 22.5], ranks), "Nash-MTL's Δm%")
    spread = _claim(_mm([10.0, 25.0, 12.0], [20.0, 11.0, 22.5], ranks), "Nash-MTL's Δm%")
    assert clear.holds is True
    assert spread.holds is None and spread.verdict == "inconclusive"  # the means alone would say "holds"


def test_best_mean_rank_compares_per_seed_ranks_with_the_best_rival():
    behind = [{"LS": 2, "IMTL-G": 1, "Nash-MTL": 3}, {"LS": 2, "IMTL-G": 1, "Nash-MTL": 2.5},
              {"LS": 2, "IMTL-G": 1.5, "Nash-MTL": 3}]
    mixed = [{"LS": 2, "IMTL-G": 1, "Nash-MTL": 3}, {"LS": 2, "IMTL-G": 3, "Nash-MTL": 1},
             {"LS": 2, "IMTL-G": 1, "Nash-MTL": 2}]
    assert _claim(_mm([1.0] * 3, [2.0] * 3, behind), "Nash-MTL has the best mean rank").holds is False
    assert _claim(_mm([1.0] * 3, [2.0] * 3, mixed), "Nash-MTL has the best mean rank").holds is None


def test_update_frequency_rows_compare_each_n_with_solving_every_step():
    freq = {1: {"delta_m_per_seed": [1.0, 2.0, 3.0]},
            3: {"delta_m_per_seed": [2.0, 3.0, 4.0]},     # worse by exactly 1 on every seed
            12: {"delta_m_per_seed": [0.0, 4.0, 2.0]}}    # -1, +2, -1: inside the seed spread
    rows = nash_mtl.update_frequency_rows(freq)
    assert list(rows) == ["every 1 step(s)", "every 3 step(s)", "every 12 step(s)"]
    assert rows["every 1 step(s)"]["Δm% (mean)"] == 2.0 and rows["every 1 step(s)"]["worse than N=1?"] == "—"
    assert rows["every 3 step(s)"]["Δm% − Δm%(N=1)"] == 1.0 and rows["every 3 step(s)"]["worse than N=1?"] == "holds"
    assert rows["every 12 step(s)"]["worse than N=1?"] == "inconclusive"
    with pytest.raises(ValueError, match="compares with N = 1"):
        nash_mtl.update_frequency_rows({3: freq[3]})


def test_toy_claim_is_inconclusive_when_a_nudge_changes_a_nash_verdict():
    def toy(flips: bool) -> dict:
        runs = [{"start": list(s), "on_front": True, "nudge": 1e-12, "nudged_on_front": [True, True]}
                for s in nash_mtl.TOY_STARTS]
        if flips:
            runs[0]["nudged_on_front"] = [True, False]
        return {"toy": {"Nash-MTL": runs}}

    robust, fragile = _claim(toy(False), "Illustrative example"), _claim(toy(True), "Illustrative example")
    assert robust.holds is True and robust.ours == "5/5" and robust.note.endswith("nudging a start by ±1e-12: none")
    assert fragile.holds is None and fragile.verdict == "inconclusive"
    assert fragile.note.endswith(f"nudging a start by ±1e-12: {tuple(nash_mtl.TOY_STARTS[0])}")
