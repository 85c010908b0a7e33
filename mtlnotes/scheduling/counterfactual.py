"""The counterfactual task selection policy π^C (Glover & Hokamp, 2019, §3.3.2).

From logged runs (task chosen, the logging policy's probability of it, reward of Eq. 16) we search the
parameters ω of a fixed softmax policy (Eq. 12) that maximise the weighted importance sampling value plus
an entropy bonus (Eq. 14):

    max_ω  V̂_WIS(π^C_ω) + λ H(π^C_ω)

with CMA-ES (Hansen & Ostermeier, 2001; the ``cma`` package). Logs from several logging policies (e.g. the
uniform run and a first π^C run, for a second improvement iteration) are concatenated, each step keeping
its own logging probability.

Which point CMA-ES returns, and σ₀ (the paper states neither). The objective is a deterministic function of
ω for a given log (no evaluation noise: :func:`wis_objective` is exact), so the best point evaluated is a
point whose objective we *know*; CMA-ES's mean is the better estimate of the optimum only when evaluations are
noisy. We therefore return the better of the best point evaluated and the final mean (which we evaluate once
more), i.e. never a point worse than any we have seen. ω are softmax logits starting at 0 (uniform); σ₀ = 0.5
perturbs each probability by a factor of about e^{±0.5} ≈ 0.6–1.6 in the first generation, a quarter of the
logit range [−2, 2] that covers probabilities from about 1/7 to 7 times uniform (cma's advice: σ₀ about a
quarter of the search range). ``sigma0`` is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cma
import numpy as np

from mtlnotes.scheduling.estimators import importance_weights, wis_estimate
from mtlnotes.scheduling.policies import softmax

__all__ = ["TaskLog", "concat_logs", "CounterfactualFit", "wis_objective", "fit_counterfactual_policy"]


@dataclass(frozen=True)
class TaskLog:
    """One or more logged runs: ``actions`` (T,) int task ids, ``behavior_probs`` (T,) the logging policy's
    probability of each action when it was taken, ``rewards`` (T,)."""

    actions: np.ndarray
    behavior_probs: np.ndarray
    rewards: np.ndarray
    n_tasks: int

    def __post_init__(self) -> None:
        a = np.asarray(self.actions)
        if a.ndim != 1 or np.asarray(self.behavior_probs).shape != a.shape or np.asarray(self.rewards).shape != a.shape:
            raise ValueError(f"actions, behavior_probs and rewards must be 1-D of equal length, got "
                             f"{a.shape}, {np.asarray(self.behavior_probs).shape}, {np.asarray(self.rewards).shape}")
        if a.size and (a.min() < 0 or a.max() >= self.n_tasks):
            bad = int(a[(a < 0) | (a >= self.n_tasks)][0])
            raise ValueError(f"task id {bad} out of range for {self.n_tasks} tasks")
        importance_weights(self.behavior_probs, self.behavior_probs) if a.size else None  # validates probs

    def __len__(self) -> int:
        return int(np.asarray(self.actions).shape[0])

    def per_task_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, B), each (N,): A_k = Σ_{t: a_t = k} r_t / π(a_t), B_k = Σ_{t: a_t = k} 1 / π(a_t).

        For a fixed target policy p, V̂_IS = p·A / T and Z = p·B / T, so V̂_WIS = p·A / p·B.
        """
        a = np.asarray(self.actions, dtype=np.int64)
        inv = 1.0 / np.asarray(self.behavior_probs, dtype=np.float64)
        r = np.asarray(self.rewards, dtype=np.float64)
        return (np.bincount(a, weights=r * inv, minlength=self.n_tasks),
                np.bincount(a, weights=inv, minlength=self.n_tasks))


def concat_logs(logs: Sequence[TaskLog]) -> TaskLog:
    """Concatenate logs of runs with (possibly) different logging policies over the same tasks."""
    if not logs:
        raise ValueError("need at least one log")
    n = {log.n_tasks for log in logs}
    if len(n) != 1:
        raise ValueError(f"logs are over different numbers of tasks: {sorted(n)}")
    return TaskLog(np.concatenate([np.asarray(l.actions) for l in logs]),
                   np.concatenate([np.asarray(l.behavior_probs, dtype=np.float64) for l in logs]),
                   np.concatenate([np.asarray(l.rewards, dtype=np.float64) for l in logs]), n.pop())


def wis_objective(omegas: np.ndarray, log: TaskLog, lam: float) -> np.ndarray:
    """Eq. 14 for a population of parameter vectors: V̂_WIS(softmax(ω)) + λ H(softmax(ω)).

    ``omegas`` (P, N) → (P,). Uses the per-task sums of the log, which is exact for fixed target policies.
    """
    omegas = np.atleast_2d(np.asarray(omegas, dtype=np.float64))
    if omegas.shape[1] != log.n_tasks:
        raise ValueError(f"omegas have {omegas.shape[1]} entries but the log has {log.n_tasks} tasks")
    A, B = log.per_task_sums()
    p = softmax(omegas)
    wis = (p @ A) / (p @ B)
    h = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1)
    return wis + lam * h


@dataclass(frozen=True)
class CounterfactualFit:
    """Result of :func:`fit_counterfactual_policy`: ω (N,), π^C = softmax(ω), its WIS value and entropy,
    the objective of Eq. 14 and the best objective after each CMA-ES iteration."""

    omega: np.ndarray
    probs: np.ndarray
    wis: float
    entropy: float
    objective: float
    lam: float
    history: list[float] = field(default_factory=list)
    mean_objective: float = float("nan")  # Eq. 14 at CMA-ES's final mean (returned when it beats every sample)


def fit_counterfactual_policy(log: TaskLog, lam: float, iterations: int = 20, popsize: int = 64,
                              sigma0: float = 0.5, seed: int = 0) -> CounterfactualFit:
    """Fit π^C by CMA-ES on Eq. 14 (``iterations`` generations of ``popsize``), starting from uniform (ω = 0).

    Deterministic for a given ``seed`` (``cma`` is seeded with ``seed + 1``; cma treats 0 as "use the clock").
    Returns the better of the best parameters evaluated and CMA-ES's final mean (see the module docstring).
    """
    if len(log) == 0:
        raise ValueError("cannot fit a policy on an empty log")
    if lam < 0 or not math.isfinite(lam):
        raise ValueError(f"entropy weight lambda must be a finite number >= 0, got {lam}")
    if iterations < 1 or popsize < 2:
        raise ValueError(f"need iterations >= 1 and popsize >= 2, got {iterations}, {popsize}")
    opts = {"popsize": popsize, "maxiter": iterations, "seed": int(seed) + 1, "verbose": -9,
            "tolfun": 0, "tolx": 0, "tolfunhist": 0, "tolstagnation": 10**9, "tolflatfitness": 10**9,
            "CMA_diagonal": False}
    es = cma.CMAEvolutionStrategy(np.zeros(log.n_tasks), sigma0, opts)
    best_x, best_f, history = np.zeros(log.n_tasks), -np.inf, []
    for _ in range(iterations):
        xs = es.ask()
        f = wis_objective(np.asarray(xs), log, lam)
        i = int(np.argmax(f))
        if f[i] > best_f:
            best_f, best_x = float(f[i]), np.asarray(xs[i], dtype=np.float64).copy()
        history.append(best_f)
        es.tell(xs, list(-f))  # cma minimises
    mean = np.asarray(es.mean, dtype=np.float64).copy()
    mean_f = float(wis_objective(mean[None], log, lam)[0])
    if mean_f > best_f:
        best_f, best_x = mean_f, mean
    p = softmax(best_x)
    A, B = log.per_task_sums()
    wis = float(p @ A / (p @ B))
    h = float(-(p * np.log(np.clip(p, 1e-300, None))).sum())
    # cross-check the fast path against the per-step estimator of Eq. 11
    ref = wis_estimate(log.behavior_probs, p[np.asarray(log.actions, dtype=np.int64)], log.rewards)
    if not np.isclose(ref, wis, rtol=1e-9, atol=1e-12):
        raise RuntimeError(f"internal error: per-task WIS {wis} differs from per-step WIS {ref}")
    return CounterfactualFit(best_x, p, wis, h, float(best_f), float(lam), history, mean_f)
