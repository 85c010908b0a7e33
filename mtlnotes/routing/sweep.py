"""Choosing a router's hyper-parameters on validation data (Rosenbaum, Klinger & Riemer, ICLR 2018).

The paper leaves the routers' step sizes unstated and says (§4, training details): "We did a parameter sweep to find
the best learning rate and ρ value for each algorithm on each dataset"; Appendix 7.1 (Figure 12, on CIFAR-MTL) shows
the effect of the collaboration reward ρ: "generally ρ = 0.0 (no collaboration reward) or a small value works best
and ... there is relatively little sensitivity to the choice in this range".

* :func:`sweep_grid` — a coordinate sweep: every router step size at the base ρ, then every ρ at the base step size.
* :func:`router_sweep` — trains one architecture at each point of the grid, on one or more seeds, on a training
  split and records its accuracy on a held-out validation split (never the test split) after every epoch; each
  (point, seed) is a resumable unit.
* :func:`best_setting` — the point with the highest validation accuracy after the last epoch (mean over seeds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import TaskData
from mtlnotes.routing.training import train_architecture

__all__ = ["sweep_grid", "router_sweep", "best_setting", "sweep_key"]


def sweep_grid(lrs: Sequence[float], rhos: Sequence[float], base_lr: float, base_rho: float
               ) -> list[tuple[float, float]]:
    """(step size, ρ) pairs of a coordinate sweep: the base pair first, then each of ``lrs`` at ``base_rho``,
    then each of ``rhos`` at ``base_lr``, without repeats.

    >>> sweep_grid([0.001, 0.01], [0.0, 0.3], base_lr=0.01, base_rho=0.3)
    [(0.01, 0.3), (0.001, 0.3), (0.01, 0.0)]
    """
    grid = [(base_lr, base_rho)] + [(lr, base_rho) for lr in lrs] + [(base_lr, rho) for rho in rhos]
    return list(dict.fromkeys((float(lr), float(rho)) for lr, rho in grid))


def sweep_key(name: str, lr: float, rho: float, seed: int) -> str:
    """The checkpoint key of one point of the sweep (distinct from the test-set units of ``name``)."""
    return f"sweep-{name}-lr{lr:g}-rho{rho:g}-seed{seed}"


def router_sweep(name: str, train: TaskData, val: TaskData, config: Any, grid: Sequence[tuple[float, float]], *,
                 seeds: Sequence[int] = (0,), epochs: int | None = None, device: torch.device | str = "cpu",
                 store: CheckpointStore | None = None) -> list[dict] | None:
    """Train architecture ``name`` on ``train`` at each (router step size, ρ) of ``grid`` (the step size is
    ``config.wpl_lr``, the WPL routers' λ_π of Algorithm 3) for ``epochs`` epochs (default ``config.epochs``), with
    everything else as in ``config`` (a dataclass with the fields of
    :class:`~mtlnotes.routing.training.TrainingConfig`), once per seed of ``seeds``; one row per point: the step
    size, ρ, the validation accuracy on ``val`` after every epoch (mean over the seeds; each seed's curve in
    ``val_accuracy_per_seed``, keyed by the seed as a string), and the training seconds (all seeds). Each
    (point, seed) is a unit of ``store``; None when another process holds one (a store in skip mode,
    :mod:`mtlnotes.checkpoint`): the sweep is not complete."""
    if not grid:
        raise ValueError("the sweep grid is empty; give at least one (step size, ρ) pair")
    if not seeds:
        raise ValueError("the sweep needs at least one seed")
    store = store or CheckpointStore(None)
    rows: list[dict] = []
    complete = True
    for lr, rho in grid:
        point = dataclasses.replace(config, wpl_lr=lr, rho=rho, epochs=epochs or config.epochs)
        curves, seconds = {}, 0.0
        for seed in seeds:
            key = sweep_key(name, lr, rho, seed)
            unit = store.get_or_compute(key + "-done", lambda point=point, key=key, seed=seed: train_architecture(
                name, train, val, point, seed, device, store, key=key))
            if unit is None:   # held by another process: go on with the units that are free
                complete = False
                continue
            curves[str(seed)] = unit["test_accuracy"]
            seconds += unit["train_seconds"]
        if len(curves) == len(seeds):
            mean = [sum(c[e] for c in curves.values()) / len(curves) for e in range(len(next(iter(curves.values()))))]
            rows.append({"wpl_lr": lr, "rho": rho, "val_accuracy": mean, "val_accuracy_per_seed": curves,
                         "train_seconds": seconds})
    return rows if complete else None


def best_setting(rows: Sequence[dict]) -> dict:
    """The row of :func:`router_sweep` with the highest validation accuracy after its last epoch, the mean over the
    sweep's seeds (the earliest in the grid among ties).

    >>> best_setting([{"wpl_lr": 0.01, "rho": 0.3, "val_accuracy": [0.9, 0.95]},
    ...               {"wpl_lr": 0.1, "rho": 0.3, "val_accuracy": [0.97, 0.96]}])["wpl_lr"]
    0.1
    """
    if not rows:
        raise ValueError("no sweep results to choose from")
    return max(rows, key=lambda r: r["val_accuracy"][-1])  # max keeps the first of equal keys
