"""Routes read off a routing map, and the tasks that share one (``routing.routes``)."""

from __future__ import annotations

import numpy as np
import pytest

from mtlnotes.routing.routes import greedy_blocks_per_layer, greedy_route_share, greedy_routes, shared_route_groups


def test_greedy_route_takes_each_layers_most_used_block():
    # (tasks, layers, blocks): task 0 sends 5 of 6 samples through block 0 at layer 0, all through block 1 at layer 1
    routing_map = [[[5, 1, 0], [0, 6, 0]],
                   [[0, 2, 4], [3, 3, 0]]]   # a tie at layer 1 goes to the lower block
    assert greedy_routes(routing_map).tolist() == [[0, 1], [2, 0]]


def test_a_routing_map_must_be_three_dimensional():
    with pytest.raises(ValueError, match=r"shape \(tasks, layers, blocks\); got shape \(2, 3\)"):
        greedy_routes(np.zeros((2, 3)))


def test_tasks_with_the_same_block_at_every_layer_form_a_group():
    routes = [[3, 7, 7], [3, 7, 2], [3, 7, 7], [2, 9, 2], [2, 9, 2], [3, 7, 7]]
    # task 1 differs from 0, 2 and 5 at the last layer only: a route of its own
    assert shared_route_groups(routes) == [[0, 2, 5], [3, 4]]


def test_no_group_when_every_route_is_a_tasks_own():
    assert shared_route_groups([[0, 1], [1, 0], [1, 1]]) == []
    assert shared_route_groups(np.zeros((1, 3), dtype=int)) == []


def test_greedy_route_share_is_each_tasks_lowest_share_of_samples_on_its_greedy_block():
    routing_map = [[[5, 1, 0], [0, 6, 0]],    # task 0: 5/6 at layer 0, 6/6 at layer 1
                   [[0, 0, 4], [4, 0, 0]],    # task 1: every sample on its greedy route
                   [[1, 1, 2], [2, 1, 1]]]    # task 2: half of its samples at either layer
    assert greedy_route_share(routing_map) == pytest.approx([5 / 6, 1.0, 0.5])


def test_greedy_route_share_needs_samples_for_every_task():
    with pytest.raises(ValueError, match="at least one sample for every task and layer"):
        greedy_route_share([[[1, 0]], [[0, 0]]])


def test_greedy_blocks_per_layer_counts_the_distinct_blocks_of_the_tasks_routes_at_each_layer():
    routing_map = [[[3, 0, 0], [0, 3, 0], [3, 0, 0]],    # task 0: route 0, 1, 0
                   [[2, 1, 0], [0, 3, 0], [0, 0, 3]],    # task 1: route 0, 1, 2 (one sample off at layer 0)
                   [[0, 0, 3], [0, 3, 0], [0, 3, 0]]]    # task 2: route 2, 1, 1
    assert greedy_blocks_per_layer(routing_map) == [2, 1, 3]
    assert greedy_blocks_per_layer(np.ones((4, 2, 5))) == [1, 1]   # ties go to block 0 for every task
