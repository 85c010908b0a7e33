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
