"""Δm% and mean rank (:mod:`mtlnotes.weighting.metrics`) on hand-computed cases."""

import pytest

from mtlnotes.weighting.metrics import delta_m, mean_rank


def test_delta_m_signs_follow_the_direction_of_each_metric():
    # accuracy 0.9 vs 0.8 (higher is better: −12.5%), error 0.4 vs 0.5 (lower is better: −20%): Δm = −16.25
    dm = delta_m({"A": [0.9, 0.4], "STL": [0.8, 0.5]}, [0.8, 0.5], [True, False])
    assert dm["A"] == pytest.approx(-16.25) and dm["STL"] == 0.0


def test_delta_m_exact_on_binary_fractions():
    # A: −(1.5 − 1)/1 = −0.5 and (0.25 − 0.5)/0.5 = −0.5; B: −(0.5 − 1)/1 = 0.5 and (1 − 0.5)/0.5 = 1
    assert delta_m({"A": [1.5, 0.25], "B": [0.5, 1.0]}, [1.0, 0.5], [True, False]) == {"A": -50.0, "B": 75.0}


def test_mean_rank_ties_share_the_average_rank():
    # metric 1 (higher better): B 1st, A 2nd, C 3rd; metric 2 (lower better): C 1st, A and B tied for 2nd-3rd (2.5)
    mr = mean_rank({"A": [1.0, 3.0], "B": [2.0, 3.0], "C": [0.5, 1.0]}, [True, False])
    assert mr == {"A": 2.25, "B": 1.75, "C": 2.0}
    assert mean_rank({"A": [1.0], "B": [1.0]}, [True]) == {"A": 1.5, "B": 1.5}
