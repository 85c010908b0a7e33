"""Multi-objective evolutionary learning for fairer models (Zhang et al., ICANN 2021, Algorithm 1).

The framework, instantiated as in §3.2: a population of λ one-hidden-layer networks; every new model is
partially trained with Adam on the training data (local search) and evaluated on the validation data with
criteria ``E`` = (MSE, f_I, f_G); NSGA-II picks μ parents by crowded binary tournament, each parent yields one
offspring by isotropic Gaussian mutation (σ = 0.01), and rank-and-crowding survival keeps λ of the 2λ models.
The variants of §4 differ only in the objectives NSGA-II sees:

    F_EIG: (MSE, f_I, f_G)    F_EI: (MSE, f_I)    F_EG: (MSE, f_G)    F_E: MSE only (top-λ by MSE)

Whatever the variant, all three criteria are recorded on validation and test data, so that the variants can
be compared on the same three objectives (as the paper does for its Fig. 3 and Tables 1-3).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from mtlnotes.fairness.measures import population_objectives
from mtlnotes.fairness.nsga2 import binary_tournament, rank_and_crowding, single_objective_keys, survival
from mtlnotes.fairness.population import MLPPopulation
from mtlnotes.fairness.sparse import OneHotInputs
from mtlnotes.fairness.stacked import StackedPopulations

__all__ = ["VARIANTS", "MOELSettings", "TabularData", "run_moel", "run_moel_many", "first_layer_mode"]

#: objectives (columns of (MSE, f_I, f_G)) optimised by each variant of Zhang et al. §4
VARIANTS: dict[str, tuple[int, ...]] = {"F_EIG": (0, 1, 2), "F_EI": (0, 1), "F_EG": (0, 2), "F_E": (0,)}


@dataclass(frozen=True)
class MOELSettings:
    """Hyper-parameters of one run (Zhang et al., §4.1 unless marked)."""

    n_hidden: int  # 64 German / 128 COMPAS / 256 Adult
    lr: float  # 0.001 German / 0.01 COMPAS, Adult
    pop_size: int = 50  # μ = λ = 50
    generations: int = 500
    sigma: float = 0.01  # mutation strength
    batch_size: int = 500  # partial training minibatch (not stated in the paper)
    epochs: int = 1  # partial training length in epochs (not stated in the paper)
    alpha: float = 2.0  # generalised entropy index parameter
    record_every: int = 10  # record test objectives every this many generations (and at the last)

    def __post_init__(self) -> None:
        if self.pop_size < 2 or self.generations < 0 or self.epochs < 1 or self.record_every < 1:
            raise ValueError(f"invalid MOEL settings: {self}")


@dataclass(frozen=True)
class TabularData:
    """Tensors of one data part: ``x`` (n, d), ``y`` (n,) in {0, 1}, ``groups`` (n,) int ids."""

    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor


def _evaluate(pop: MLPPopulation, data: TabularData, alpha: float) -> np.ndarray:
    probs = pop.predict_proba(data.x)
    return population_objectives(probs, data.y, data.groups, alpha).cpu().numpy()


def _keys(F: np.ndarray, objectives: tuple[int, ...]):
    sub = F[:, objectives]
    return single_objective_keys(sub[:, 0]) if len(objectives) == 1 else rank_and_crowding(sub)


def run_moel(variant: str, settings: MOELSettings, train: TabularData, validation: TabularData,
             test: TabularData | None, seed: int, *, device: torch.device | str = "cpu",
             state: dict | None = None, on_state: Callable[[dict], None] | None = None, state_every: int = 50,
             progress: Callable | None = None) -> dict:
    """Run Algorithm 1 with NSGA-II for one variant and one seed; returns plain data.

    Returns ``{"generations": [g, ...], "val": [(λ, 3) per recorded g], "test": [(λ, 3) per recorded g],
    "final_val": (λ, 3), "final_test": (λ, 3)}`` where recorded generations are 0, ``record_every``, ..., and
    the last; every row is one model of the population, columns (MSE, f_I, f_G).

    ``state``/``on_state`` make a long run resumable: ``on_state(state)`` is called every ``state_every``
    generations with everything needed to continue (pass it back as ``state``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    objectives = VARIANTS[variant]
    s = settings
    device = torch.device(device)
    parts = [train, validation] + ([test] if test is not None else [])
    train, validation, *rest = [TabularData(p.x.to(device), p.y.to(device), p.groups.to(device)) for p in parts]
    test = rest[0] if rest else None
    gen = torch.Generator().manual_seed(seed)

    if state is None:
        pop = MLPPopulation.glorot(s.pop_size, train.x.shape[1], s.n_hidden, gen, device=device)
        pop.partial_train(train.x, train.y, s.lr, s.batch_size, s.epochs, gen)  # Alg. 1 line 1
        F = _evaluate(pop, validation, s.alpha)  # lines 2-4
        hist = {"generations": [], "val": [], "test": []}
        start = 1
        _record(hist, 0, F, pop, test, s)
    else:
        pop = MLPPopulation({k: v.to(device) for k, v in state["params"].items()})
        F = np.asarray(state["F"])
        hist = state["hist"]
        gen.set_state(state["generator"])
        start = state["next_generation"]

    for g in range(start, s.generations + 1):
        rank, crowd = _keys(F, objectives)
        parents = binary_tournament(rank, crowd, s.pop_size, gen)  # line 6 (μ = λ)
        offspring = pop.select(torch.as_tensor(parents, device=device)).mutated(s.sigma, gen)  # line 7
        offspring.partial_train(train.x, train.y, s.lr, s.batch_size, s.epochs, gen)  # line 9
        F_off = _evaluate(offspring, validation, s.alpha)  # line 10
        union = MLPPopulation.concat(pop, offspring)
        F_union = np.concatenate([F, F_off])
        keep = survival(F_union[:, objectives], s.pop_size)  # line 12
        pop = union.select(torch.as_tensor(keep, device=device))
        F = F_union[keep]
        _record(hist, g, F, pop, test, s)
        if progress is not None:
            progress(g)
        if on_state is not None and g % state_every == 0 and g < s.generations:
            on_state({"params": {k: v.cpu() for k, v in pop.params.items()}, "F": F, "hist": hist,
                      "generator": gen.get_state(), "next_generation": g + 1})

    hist["final_val"] = F
    hist["final_test"] = _evaluate(pop, test, s.alpha) if test is not None else None
    return hist


def _record(hist: dict, g: int, F: np.ndarray, pop: MLPPopulation, test: TabularData | None,
            s: MOELSettings) -> None:
    if g % s.record_every == 0 or g == s.generations:
        hist["generations"].append(g)
        hist["val"].append(F.copy())
        hist["test"].append(_evaluate(pop, test, s.alpha) if test is not None else None)


def first_layer_mode(x: torch.Tensor, max_density: float = 0.1) -> str:
    """``"gather"`` when at most ``max_density`` of the entries of ``x`` are non-zero, else ``"dense"``.

    A gather-and-sum does ``density × d`` additions per hidden unit where a dense product does ``d``
    multiply-adds, but BLAS runs the dense product several times faster per operation; on this project's
    2-core CPU the gather wins on COMPAS (2.5% non-zero) and loses on German (33%) and Adult (13%)
    (``benchmarks/fairness_population.py`` measures both)."""
    return "gather" if float((x != 0).float().mean()) <= max_density else "dense"


def run_moel_many(runs: list[tuple[str, int]], settings: MOELSettings, train: TabularData, validation: TabularData,
                  test: TabularData | None, *, device: torch.device | str = "cpu", state: dict | None = None,
                  on_state: Callable[[dict], None] | None = None, state_every: int = 25,
                  progress: Callable | None = None, first_layer: str = "auto") -> list[dict]:
    """:func:`run_moel` for many (variant, seed) runs at once, as one tensor program; one result per run.

    Every run keeps its own generator, consumed in the same order as :func:`run_moel` (initialisation,
    minibatch orders, tournaments, mutations), so run r computes the same function as
    ``run_moel(*runs[r], ...)`` — only the floating-point summation order differs. The partial training of
    all runs is one :class:`~mtlnotes.fairness.stacked.StackedPopulations` program; NSGA-II's sorting and
    selection stay per run (they are cheap next to training). ``first_layer``: ``"gather"``, ``"dense"`` or
    ``"auto"`` (:func:`first_layer_mode`). ``state``/``on_state`` make the group resumable, as in
    :func:`run_moel`.
    """
    for variant, _ in runs:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if not runs:
        raise ValueError("run_moel_many needs at least one (variant, seed) run")
    if first_layer == "auto":
        first_layer = first_layer_mode(train.x)
    if first_layer not in ("gather", "dense"):
        raise ValueError(f"first_layer must be 'gather', 'dense' or 'auto', got {first_layer!r}")
    s = settings
    device = torch.device(device)
    parts = [p for p in (train, validation, test) if p is not None]
    # one column split for all parts: a column is 0/1 only if it is 0/1 everywhere
    split = OneHotInputs.from_dense(torch.cat([p.x for p in parts]))
    encoded = []
    for p in parts:
        oh = OneHotInputs.from_dense(p.x, binary_columns=split.binary_columns).to(device)
        encoded.append((oh, p.x.to(device) if first_layer == "dense" else None, p.y.to(device), p.groups.to(device)))
    train_e, val_e, *rest = encoded
    test_e = rest[0] if rest else None
    n_runs, size = len(runs), s.pop_size
    rows = torch.arange(n_runs, device=device)[:, None]

    def evaluate(pops: StackedPopulations, part) -> np.ndarray:  # (R, P, 3)
        oh, dense, y, groups = part
        probs = pops.predict_proba(oh, dense=dense)
        return population_objectives(probs.reshape(-1, probs.shape[-1]), y, groups, s.alpha).cpu().numpy() \
            .reshape(n_runs, -1, 3)

    def record(g: int) -> None:
        if g % s.record_every == 0 or g == s.generations:
            F_test = evaluate(pop, test_e) if test_e is not None else [None] * n_runs
            for r in range(n_runs):
                hists[r]["generations"].append(g)
                hists[r]["val"].append(F[r].copy())
                hists[r]["test"].append(F_test[r])

    if state is None:
        gens = [torch.Generator().manual_seed(seed) for _, seed in runs]
        pop = StackedPopulations.stack([MLPPopulation.glorot(size, train.x.shape[1], s.n_hidden, g, device=device)
                                        for g in gens])
        pop.partial_train(train_e[0], train_e[2], s.lr, s.batch_size, s.epochs, gens, dense=train_e[1])  # line 1
        F = list(evaluate(pop, val_e))  # lines 2-4
        hists = [{"generations": [], "val": [], "test": []} for _ in runs]
        start = 1
        record(0)
    else:
        if [tuple(r) for r in state["runs"]] != [tuple(r) for r in runs]:
            raise ValueError("the saved state belongs to other runs; use a fresh checkpoint directory")
        gens = []
        for gstate in state["generators"]:
            g = torch.Generator()
            g.set_state(gstate)
            gens.append(g)
        pop = StackedPopulations({k: v.to(device) for k, v in state["params"].items()})
        F = [np.asarray(f) for f in state["F"]]
        hists = state["hists"]
        start = state["next_generation"]

    shapes = {k: (v.shape[1:], v.dtype) for k, v in pop.params.items()}

    def draw_noise(r: int) -> list[torch.Tensor]:  # line 7: run_moel's draw order (W1, b1, W2, b2) per run
        return [torch.randn(shape, generator=gens[r], dtype=dtype) for shape, dtype in shapes.values()]

    # Each run draws its mutations from its own generator, so the runs' draws can be made side by side in
    # threads (torch releases the GIL) without changing any run's random stream: on Adult the draws of 60
    # runs are ~80 million normals a generation, which one thread makes slower than a GPU trains.
    with ThreadPoolExecutor(max_workers=min(n_runs, os.cpu_count() or 1)) as pool:
        for g in range(start, s.generations + 1):
            parents = []
            for r, (variant, _) in enumerate(runs):
                rank, crowd = _keys(F[r], VARIANTS[variant])
                parents.append(torch.as_tensor(binary_tournament(rank, crowd, size, gens[r])))  # line 6 (μ = λ)
            noise = list(pool.map(draw_noise, range(n_runs)))
            chosen = pop.take(torch.stack(parents).to(device))
            offspring = StackedPopulations({k: v + s.sigma * torch.stack([nr[i] for nr in noise]).to(device)
                                            for i, (k, v) in enumerate(chosen.params.items())})
            offspring.partial_train(train_e[0], train_e[2], s.lr, s.batch_size, s.epochs, gens,
                                    dense=train_e[1])  # line 9
            F_off = evaluate(offspring, val_e)  # line 10
            union = StackedPopulations.concat(pop, offspring)
            keep = []
            for r, (variant, _) in enumerate(runs):
                F_union = np.concatenate([F[r], F_off[r]])
                k_r = survival(F_union[:, VARIANTS[variant]], size)  # line 12
                keep.append(torch.as_tensor(k_r))
                F[r] = F_union[k_r]
            pop = union.take(torch.stack(keep).to(device))
            record(g)
            if progress is not None:
                progress(g)
            if on_state is not None and g % state_every == 0 and g < s.generations:
                on_state({"runs": [list(r) for r in runs],  # a snapshot: nothing in it changes afterwards
                          "params": {k: v.detach().cpu().clone() for k, v in pop.params.items()},
                          "F": [f.copy() for f in F], "hists": copy.deepcopy(hists),
                          "generators": [gn.get_state() for gn in gens],
                          "next_generation": g + 1})

    F_test = evaluate(pop, test_e) if test_e is not None else [None] * n_runs
    for r in range(n_runs):
        hists[r]["final_val"] = F[r]
        hists[r]["final_test"] = F_test[r]
    return hists
