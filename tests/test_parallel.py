"""mtlnotes.parallel: units in spawned worker processes give what they give in this process, in order."""

from __future__ import annotations

import operator

import pytest

from mtlnotes.parallel import default_processes, map_units


def test_results_come_back_in_the_order_of_the_units():
    units = [(i, 10) for i in range(7)]
    assert map_units(operator.mul, units, processes=2) == [10 * i for i in range(7)]
    assert map_units(operator.mul, units, processes=1) == [10 * i for i in range(7)]


def test_a_unit_that_raises_raises_here():
    with pytest.raises(ZeroDivisionError):
        map_units(operator.truediv, [(1, 1), (1, 0)], processes=2)


def test_worker_processes_pin_the_thread_count():
    import torch

    counts = map_units(torch.get_num_threads, [(), ()], processes=2, threads=1)
    assert counts == [1, 1]


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_processes_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="processes must be a positive int"):
        map_units(operator.mul, [(1, 2)], processes=bad)


def test_default_processes_is_at_most_one_per_unit():
    assert default_processes(1) == 1
    assert 1 <= default_processes(100) <= 100 and default_processes() == default_processes(10_000)
