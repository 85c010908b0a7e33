"""Seed statistics (mtlnotes.stats): t-intervals against scipy, and the three-way verdict."""

from __future__ import annotations

import math

import pytest
from scipy import stats as st

from mtlnotes.stats import MIN_SEEDS, compare, mean_interval, verdict_word


def test_mean_interval_matches_scipy_t_interval():
    xs = [0.91, 0.88, 0.95, 0.90]
    got = mean_interval(xs, confidence=0.9)
    lo, hi = st.t.interval(0.9, len(xs) - 1, loc=sum(xs) / len(xs), scale=st.sem(xs))
    assert (got.low, got.high) == pytest.approx((lo, hi), rel=1e-12)


def test_verdicts_follow_the_interval():
    assert compare([3.0, 3.1, 2.9], [1.0, 1.0, 1.0]).verdict("greater") is True
    assert compare([3.0, 3.1, 2.9], [1.0, 1.0, 1.0]).verdict("less") is False
    assert compare([1.0, 2.0, 3.0], [2.0, 1.0, 3.5]).verdict("greater") is None
    assert verdict_word(None) == "inconclusive"


def test_fewer_than_three_seeds_never_decide_even_with_zero_spread():
    assert MIN_SEEDS == 3
    two = compare([2.0, 3.0], [1.0, 2.0])  # the same difference on both seeds: a zero-width interval
    assert two.low == two.high == 1.0
    assert two.verdict("greater") is None
    one = mean_interval([1.0])
    assert math.isnan(one.low) and one.verdict("greater") is None


def test_bad_input():
    with pytest.raises(ValueError, match="at least one value"):
        mean_interval([])
    with pytest.raises(ValueError, match="as many values"):
        compare([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="'greater' or 'less'"):
        mean_interval([1.0, 2.0, 3.0]).verdict("bigger")


def test_exceeds_judges_a_claim_by_more_than_a_margin():
    from mtlnotes.stats import Interval

    assert Interval(2.0, 1.5, 2.5, 3).exceeds(1.0) is True
    assert Interval(0.5, 0.2, 0.8, 3).exceeds(1.0) is False
    assert Interval(1.0, 0.5, 1.5, 3).exceeds(1.0) is None  # the margin is inside the seed spread
    assert Interval(2.0, 1.5, 2.5, 2).exceeds(1.0) is None  # too few seeds


def test_within_is_an_equivalence_test():
    from mtlnotes.stats import Interval

    assert Interval(0.1, -0.5, 0.7, 5).within(1.0) is True
    assert Interval(2.0, 1.5, 2.5, 5).within(1.0) is False
    assert Interval(-2.0, -2.5, -1.5, 5).within(1.0) is False
    assert Interval(0.8, 0.2, 1.4, 5).within(1.0) is None  # could be similar or not
    assert Interval(0.0, float("nan"), float("nan"), 1).within(1.0) is None
    with pytest.raises(ValueError, match="bound must be >= 0"):
        Interval(0.0, -1.0, 1.0, 3).within(-1.0)


def test_all_hold_combines_the_parts_of_a_claim():
    from mtlnotes.stats import all_hold

    assert all_hold([True, True]) is True
    assert all_hold([True, None]) is None
    assert all_hold([None, False, True]) is False  # one part failing decides, even beside an unsure one
