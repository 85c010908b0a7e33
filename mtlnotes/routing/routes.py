"""The routes a trained routing network takes, read off its routing map, and the tasks that share a whole route.

A unit's routing map (``routing_map`` in the routing chapter's results, built by :mod:`mtlnotes.routing.training`)
counts, for each task, routed layer and block, how many of the task's test samples the greedy router sent through
that block: shape ``(tasks, layers, blocks)``. The function blocks see only the representation, never the task
(Algorithm 1 of Rosenbaum et al.), so two tasks whose samples take the same block at every layer are computed by
one and the same network. On MNIST-MTL, where task t answers "is this digit t?", such tasks want opposite answers
on each other's positive digits, and a group of tasks sharing a route cannot average more than the trivial 90% in
expectation (see the chapter).

That holds for routers whose choice depends on the task and the depth only (WPL, tabular Q-learning, the fixed
routes of the task-specific baselines): every sample of a task takes the task's greedy route. Routers with function
approximators (REINFORCE, approximate Q-learning, the dispatched and single-agent routers) choose from the sample's
representation too, so a task's samples may spread over several blocks; :func:`greedy_route_share` says how far
they do, and the greedy route is then only each layer's most used block."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["greedy_blocks_per_layer", "greedy_route_share", "greedy_routes", "shared_route_groups"]


def greedy_routes(routing_map: Sequence | np.ndarray) -> np.ndarray:
    """Each task's route: the block each routed layer uses most on the task's samples, an integer array of shape
    ``(tasks, layers)`` from a ``(tasks, layers, blocks)`` routing map of counts (ties go to the lower block)."""
    counts = np.asarray(routing_map)
    if counts.ndim != 3:
        raise ValueError(f"a routing map has shape (tasks, layers, blocks); got shape {counts.shape}: pass a unit's "
                         f"'routing_map' from the routing chapter's results")
    return counts.argmax(axis=2)


def greedy_route_share(routing_map: Sequence | np.ndarray) -> np.ndarray:
    """For each task, the share (0–1) of its samples that take the greedy block (:func:`greedy_routes`) at the layer
    where that share is lowest, an array of shape ``(tasks,)``. 1 means every sample of the task takes its whole
    greedy route; below 1, at most that share of its samples does."""
    greedy_routes(routing_map)   # checks the shape
    counts = np.asarray(routing_map, dtype=float)
    totals = counts.sum(axis=2)
    if (totals <= 0).any():
        raise ValueError("a routing map needs at least one sample for every task and layer; got a task with none")
    return (counts.max(axis=2) / totals).min(axis=1)


def greedy_blocks_per_layer(routing_map: Sequence | np.ndarray) -> list[int]:
    """How many distinct blocks the tasks' greedy routes (:func:`greedy_routes`) use at each routed layer, one count
    per layer: the number of tasks where every task's route has a block of its own there, 1 where every task's route
    goes through one and the same block (the collapse §4 of Rosenbaum et al. reports for its single-agent router)."""
    return [len(set(layer)) for layer in greedy_routes(routing_map).T.tolist()]


def shared_route_groups(routes: Sequence | np.ndarray) -> list[list[int]]:
    """The groups of two or more tasks that take the same block at every layer, from ``(tasks, layers)`` routes
    (:func:`greedy_routes`): each group as its task indices in increasing order, groups ordered by their first
    task. Tasks whose route is their own are in no group."""
    by_route: dict[tuple[int, ...], list[int]] = {}
    for task, route in enumerate(np.asarray(routes)):
        by_route.setdefault(tuple(int(b) for b in route), []).append(task)
    return sorted((tasks for tasks in by_route.values() if len(tasks) > 1), key=lambda tasks: tasks[0])
