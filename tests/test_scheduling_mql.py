"""MQL and RRBS batch orders (He et al., ICANN 2021, §3.5, Eqs. 8–9): hand-computed orders and bad input."""

from __future__ import annotations

from collections import Counter

import pytest

from mtlnotes.scheduling.mql import SCHEDULES, mql_order, mql_ratios, ratio_order, rrbs_order


def test_mql_ratios_of_the_issue_example():
    # M = (3, 12, 14): M_min = 3, F = (floor(3/3), floor(12/3), floor(14/3)) = (1, 4, 4)
    assert mql_ratios([3, 12, 14]) == [1, 4, 4]
    assert mql_ratios([675, 4146, 6283]) == [1, 6, 9]
    assert mql_ratios([5, 5]) == [1, 1]


def test_mql_order_hand_computed():
    order = mql_order([3, 12, 14])
    t0 = [(0, 0)]
    round1 = t0 + [(1, r) for r in range(4)] + [(2, r) for r in range(4)]
    round2 = [(0, 1)] + [(1, r) for r in range(4, 8)] + [(2, r) for r in range(4, 8)]
    round3 = [(0, 2)] + [(1, r) for r in range(8, 12)] + [(2, r) for r in range(8, 12)]
    round4 = [(2, 12), (2, 13)]  # only task 3 has batches left
    assert order == round1 + round2 + round3 + round4


def test_rrbs_order_hand_computed_eq8():
    assert rrbs_order([2, 3, 1]) == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (1, 2)]


def test_every_batch_exactly_once_and_in_order_per_task():
    counts = [7, 1, 30, 11]
    for name, fn in SCHEDULES.items():
        order = fn(counts)
        assert Counter(order) == Counter((t, r) for t, m in enumerate(counts) for r in range(m)), name
        for t in range(len(counts)):
            assert [r for k, r in order if k == t] == list(range(counts[t])), name


def test_mql_spreads_the_small_task_over_the_epoch_rrbs_does_not():
    # RRBS uses up task 0's 2 batches in the first 4 steps; MQL spaces them 1 + 10 apart
    mql, rrbs = mql_order([2, 20]), rrbs_order([2, 20])
    assert [i for i, (t, _) in enumerate(rrbs) if t == 0] == [0, 2]
    assert [i for i, (t, _) in enumerate(mql) if t == 0] == [0, 11]


def test_ratio_order_with_ones_is_rrbs():
    assert ratio_order([4, 2, 3], [1, 1, 1]) == rrbs_order([4, 2, 3])


@pytest.mark.parametrize("counts", [[], [0, 3], [2, -1], [1.5, 2]])
def test_bad_counts_raise(counts):
    with pytest.raises(ValueError, match="batches"):
        mql_order(counts)


def test_bad_ratios_raise():
    with pytest.raises(ValueError, match="one ratio per task"):
        ratio_order([2, 2], [1])
    with pytest.raises(ValueError, match="positive"):
        ratio_order([2, 2], [1, 0])
