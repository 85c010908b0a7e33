"""Fairer machine learning through multi-objective evolutionary learning (Zhang et al., ICANN 2021).

* :mod:`~mtlnotes.fairness.measures` — benefit, generalised entropy index, f_I, f_G, MSE (Speicher et al., 2018)
* :mod:`~mtlnotes.fairness.population` — a population of one-hidden-layer MLPs as one batched tensor program
* :mod:`~mtlnotes.fairness.sparse` — one-hot rows as indices: the first layer as a gather-and-sum
* :mod:`~mtlnotes.fairness.stacked` — many runs' populations trained as one program (the study's fast path)
* :mod:`~mtlnotes.fairness.nsga2` — non-dominated sorting, crowding, survival, tournament (Deb et al., 2002)
* :mod:`~mtlnotes.fairness.moel` — the framework (Algorithm 1) and its variants F_EIG, F_EI, F_EG, F_E
* :mod:`~mtlnotes.fairness.indicators` — hypervolume, pure diversity, spacing, Wilcoxon signs
* :mod:`~mtlnotes.fairness.analysis` — Tables 1–3, HV curves and the counted claims from finished runs
* :mod:`~mtlnotes.fairness.figures` — Figs. 1–4 of §4.2 from an analysis (quick run or results file)
"""

from mtlnotes.fairness.indicators import (hypervolume, nondominated_mask, normalize, pure_diversity, spacing,
                                          wilcoxon_sign)
from mtlnotes.fairness.measures import (OBJECTIVE_NAMES, benefit, generalized_entropy_index, group_unfairness,
                                        individual_unfairness, mse, population_objectives)
from mtlnotes.fairness.moel import VARIANTS, MOELSettings, TabularData, first_layer_mode, run_moel, run_moel_many
from mtlnotes.fairness.nsga2 import (binary_tournament, crowding_distance, nondominated_ranks, rank_and_crowding,
                                     survival)
from mtlnotes.fairness.population import LoopPopulation, MLPPopulation, glorot_uniform
from mtlnotes.fairness.sparse import OneHotInputs
from mtlnotes.fairness.stacked import StackedPopulations

__all__ = [
    "hypervolume", "nondominated_mask", "normalize", "pure_diversity", "spacing", "wilcoxon_sign",
    "OBJECTIVE_NAMES", "benefit", "generalized_entropy_index", "group_unfairness", "individual_unfairness", "mse",
    "population_objectives", "VARIANTS", "MOELSettings", "TabularData", "run_moel", "run_moel_many", "first_layer_mode", "OneHotInputs", "StackedPopulations", "binary_tournament",
    "crowding_distance", "nondominated_ranks", "rank_and_crowding", "survival", "LoopPopulation", "MLPPopulation",
    "glorot_uniform",
]
