"""The MTL bandit of Glover & Hokamp (2019, §4.1): a synthetic stand-in for multi-task training.

N arms (tasks). An oracle distribution π^ORACLE ~ Dir(α^MTL) is drawn once and kept for all runs. Arm k has
a score (initially 0), a ceiling MaxP_k ~ U[0.5, 1.0], a learning increment LI_k = MaxP_k / (T π^ORACLE(k))
(so that sampling with the oracle for T steps brings every arm to its ceiling, forgetting aside) and a
forgetting increment FI_k = U[0, 0.01] · LI_k. At every step the chosen arm's score grows by LI_k (clipped
to ≤ MaxP_k), then every arm's score shrinks by FI_k (clipped to ≥ 0). The chosen arm's score before and
after the step gives the rewards:

* for Exp3.S, the prediction gain (§3.2.1) with the loss taken as 1 − score: r̂ = after − before, then
  scaled to [−1, 1] by Eq. 6;
* for π^C, Eq. 16 with P(x|θ) = score: r = 1 − before when the score went up, else 0.

The paper does not state the horizon T; :class:`BanditSpec` takes it as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlnotes.scheduling.counterfactual import TaskLog
from mtlnotes.scheduling.policies import TaskPolicy
from mtlnotes.scheduling.rewards import RewardScaler

__all__ = ["BanditSpec", "MTLBandit", "BanditRun", "progress_reward", "run_bandit"]


@dataclass(frozen=True)
class BanditSpec:
    """A fixed MTL bandit: oracle (N,), max_p (N,), forget_frac (N,) (the U[0, 0.01] draws) and horizon T."""

    oracle: np.ndarray
    max_p: np.ndarray
    forget_frac: np.ndarray
    horizon: int

    def __post_init__(self) -> None:
        n = np.asarray(self.oracle).shape
        if len(n) != 1 or np.asarray(self.max_p).shape != n or np.asarray(self.forget_frac).shape != n:
            raise ValueError("oracle, max_p and forget_frac must be 1-D arrays of the same length")
        if self.horizon < 1:
            raise ValueError(f"horizon T must be >= 1, got {self.horizon}")
        if np.any(np.asarray(self.oracle) <= 0) or not np.isclose(np.sum(self.oracle), 1.0):
            raise ValueError("the oracle must be a distribution with positive entries")

    @property
    def n_arms(self) -> int:
        return int(np.asarray(self.oracle).shape[0])

    @property
    def learn_inc(self) -> np.ndarray:
        """LI_k = MaxP_k / (T π^ORACLE(k))."""
        return np.asarray(self.max_p) / (self.horizon * np.asarray(self.oracle))

    @property
    def forget_inc(self) -> np.ndarray:
        """FI_k = U[0, 0.01] · LI_k."""
        return np.asarray(self.forget_frac) * self.learn_inc

    @classmethod
    def sample(cls, n_arms: int = 8, alpha: float = 2.0, horizon: int = 10_000, seed: int = 0) -> "BanditSpec":
        """Draw π^ORACLE ~ Dir(α 1_N), MaxP ~ U[0.5, 1], forget fractions ~ U[0, 0.01] with ``seed``."""
        if n_arms < 2 or alpha <= 0:
            raise ValueError(f"need n_arms >= 2 and alpha > 0, got {n_arms}, {alpha}")
        rng = np.random.default_rng(seed)
        oracle = rng.dirichlet(np.full(n_arms, float(alpha)))
        max_p = rng.uniform(0.5, 1.0, n_arms)
        forget = rng.uniform(0.0, 0.01, n_arms)
        return cls(oracle, max_p, forget, int(horizon))


class MTLBandit:
    """The bandit's state (scores (N,)) and its dynamics; ``step(arm)`` returns the arm's (before, after) score."""

    def __init__(self, spec: BanditSpec) -> None:
        self.spec = spec
        self.scores = np.zeros(spec.n_arms)
        self._li = spec.learn_inc
        self._fi = spec.forget_inc
        self._max = np.asarray(spec.max_p, dtype=np.float64)

    def step(self, arm: int) -> tuple[float, float]:
        if not 0 <= arm < self.spec.n_arms:
            raise ValueError(f"arm {arm} out of range for {self.spec.n_arms} arms")
        before = float(self.scores[arm])
        self.scores[arm] = min(before + self._li[arm], self._max[arm])
        self.scores -= self._fi
        np.maximum(self.scores, 0.0, out=self.scores)
        return before, float(self.scores[arm])

    def average_score(self) -> float:
        return float(self.scores.mean())


def progress_reward(before: float, after: float) -> float:
    """Eq. 16 on the bandit: 1 − score before the step if the step raised the score, else 0."""
    return 1.0 - before if after > before else 0.0


@dataclass(frozen=True)
class BanditRun:
    """One run: ``avg_score`` (T,) mean score over arms after each step, and the log (actions, the
    behaviour probability of each action, the Eq. 16 reward) for counterfactual learning."""

    avg_score: np.ndarray
    log: TaskLog


def run_bandit(spec: BanditSpec, policy: TaskPolicy, seed: int, scaler: RewardScaler | None = None) -> BanditRun:
    """Run ``policy`` on a fresh bandit for T steps with ``numpy.random.default_rng(seed)``.

    Policies with feedback (Exp3.S) get the prediction-gain reward after − before, scaled by ``scaler``
    (Eq. 6; a fresh ``RewardScaler(seed=seed)`` if None). Fixed policies ignore feedback.
    """
    if policy.n_tasks != spec.n_arms:
        raise ValueError(f"policy has {policy.n_tasks} tasks but the bandit has {spec.n_arms} arms")
    rng = np.random.default_rng(seed)
    bandit = MTLBandit(spec)
    scaler = scaler if scaler is not None else RewardScaler(seed=seed)
    adaptive = type(policy).update is not TaskPolicy.update
    T = spec.horizon
    avg = np.empty(T)
    actions = np.empty(T, dtype=np.int64)
    probs = np.empty(T)
    rewards = np.empty(T)
    fixed_p = None if adaptive else policy.probabilities()
    fixed_cdf = None if adaptive else np.cumsum(fixed_p)
    for t in range(T):
        if adaptive:
            p = policy.probabilities()
            k = min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), spec.n_arms - 1)
            pk = p[k]
        else:
            k = min(int(np.searchsorted(fixed_cdf, rng.random(), side="right")), spec.n_arms - 1)
            pk = fixed_p[k]
        before, after = bandit.step(k)
        if adaptive:
            policy.update(k, scaler.scale(after - before))
        actions[t], probs[t], rewards[t] = k, pk, progress_reward(before, after)
        avg[t] = bandit.average_score()
    return BanditRun(avg, TaskLog(actions, probs, rewards, spec.n_arms))
