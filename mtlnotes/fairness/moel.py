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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mtlnotes.fairness.measures import population_objectives
from mtlnotes.fairness.nsga2 import binary_tournament, rank_and_crowding, single_objective_keys, survival
from mtlnotes.fairness.population import MLPPopulation

__all__ = ["VARIANTS", "MOELSettings", "TabularData", "run_moel"]

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
