"""Task selection policies (Glover & Hokamp, 2019, §3), all behind one small interface.

A policy over N tasks exposes

* ``probabilities() -> np.ndarray`` (N,): π_t(k) for the current step,
* ``sample(rng) -> int``: a task drawn from π_t with a ``numpy.random.Generator``,
* ``update(task, reward)``: feedback after the chosen task was trained on (a no-op for fixed policies).

Policies: :class:`UniformPolicy` (Eq. 3), :class:`TaskSizePolicy` (Eq. 4), :class:`Exp3SPolicy`
(Eq. 5; Graves et al., 2017, after Auer et al., 2002), :class:`FixedPolicy` (any fixed distribution, e.g.
the bandit's oracle) and :class:`SoftmaxPolicy` (Eq. 12, the form of the counterfactual policy π^C).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = ["PolicyRunConfig", "TaskPolicy", "FixedPolicy", "UniformPolicy", "TaskSizePolicy", "SoftmaxPolicy",
           "Exp3SPolicy", "softmax"]


def softmax(omega: np.ndarray) -> np.ndarray:
    """exp(ω_k) / Σ_j exp(ω_j) along the last axis (stable); (..., N) → (..., N)."""
    omega = np.asarray(omega, dtype=np.float64)
    z = omega - omega.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class TaskPolicy:
    """Base class: a distribution over ``n_tasks`` tasks that may change with feedback."""

    n_tasks: int

    def probabilities(self) -> np.ndarray:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> int:
        """Draw a task id from π_t using ``rng`` (inverse-CDF on one uniform draw, so runs are reproducible)."""
        p = self.probabilities()
        u = rng.random()
        k = int(np.searchsorted(np.cumsum(p), u, side="right"))
        return min(k, self.n_tasks - 1)

    def update(self, task: int, reward: float) -> None:
        """Feedback for the task just trained on; fixed policies ignore it."""
        self._check_task(task)

    def _check_task(self, task: int) -> None:
        if not 0 <= int(task) < self.n_tasks:
            raise ValueError(f"task id {task} out of range for {self.n_tasks} tasks")


class FixedPolicy(TaskPolicy):
    """A fixed stochastic policy with the given probabilities (N,)."""

    def __init__(self, probs: Sequence[float] | np.ndarray, name: str = "fixed") -> None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 1 or p.size < 1:
            raise ValueError(f"probs must be a non-empty 1-D array, got shape {p.shape}")
        if np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-8):
            raise ValueError(f"probs must be non-negative and sum to 1, got sum {p.sum():.6g}")
        self._p = p / p.sum()
        self.n_tasks = int(p.size)
        self.name = name

    def probabilities(self) -> np.ndarray:
        return self._p.copy()


class UniformPolicy(FixedPolicy):
    """π^RANDOM(k) = 1/N (Eq. 3)."""

    def __init__(self, n_tasks: int) -> None:
        if n_tasks < 1:
            raise ValueError(f"need at least one task, got {n_tasks}")
        super().__init__(np.full(n_tasks, 1.0 / n_tasks), name="uniform")


class TaskSizePolicy(FixedPolicy):
    """π^TASK SIZE(k) = |D^k| / Σ_j |D^j| (Eq. 4; Phang et al., 2018)."""

    def __init__(self, sizes: Sequence[int]) -> None:
        s = np.asarray(sizes, dtype=np.float64)
        if s.ndim != 1 or s.size < 1 or np.any(s <= 0):
            raise ValueError(f"task sizes must be positive, got {list(sizes)}")
        super().__init__(s / s.sum(), name="task_size")


class SoftmaxPolicy(FixedPolicy):
    """π^C_ω(k) = exp(ω_k) / Σ_j exp(ω_j) (Eq. 12), a fixed stochastic policy with parameters ω (N,)."""

    def __init__(self, omega: Sequence[float] | np.ndarray) -> None:
        w = np.asarray(omega, dtype=np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)):
            raise ValueError(f"omega must be a finite 1-D array, got {w}")
        self.omega = w.copy()
        super().__init__(softmax(w), name="counterfactual")


class Exp3SPolicy(TaskPolicy):
    """Exp3.S as used for automated curriculum learning (Glover & Hokamp, 2019, Eq. 5; Graves et al., 2017).

    State: weights ω_t (N,), ω_1 = 0. With ρ_t = softmax(ω_t), the policy is
    π_t(k) = (1 − ε) ρ_{t,k} + ε/N. After observing reward r_t for action a_t, the importance-sampled reward is
    r̃_{t,k} = r_t 𝕀[a_t = k] / ρ_{t,k} and the weights become

        ω_{t+1,k} = log[(1 − α_{t+1}) exp(ω_{t,k} + η r̃_{t,k}) + α_{t+1}/(N − 1) Σ_{j≠k} exp(ω_{t,j} + η r̃_{t,j})]

    with α_t = 1/t. (Eq. 5 divides by ρ, not by π; we follow the paper.) Computed in log space.
    Rewards should already be scaled to [−1, 1] (see :class:`mtlnotes.scheduling.RewardScaler`, Eq. 6).
    """

    def __init__(self, n_tasks: int, eta: float = 1e-3, eps: float = 0.05) -> None:
        if n_tasks < 2:
            raise ValueError(f"Exp3.S needs at least 2 tasks, got {n_tasks}")
        if eta <= 0:
            raise ValueError(f"eta must be positive, got {eta}")
        if not 0 <= eps <= 1:
            raise ValueError(f"eps must lie in [0, 1], got {eps}")
        self.n_tasks = n_tasks
        self.eta = float(eta)
        self.eps = float(eps)
        self.omega = np.zeros(n_tasks)
        self.t = 1  # index of the current step (ω_1 = 0)
        self.name = "exp3s"

    def rho(self) -> np.ndarray:
        """ρ_t = softmax(ω_t), shape (N,)."""
        return softmax(self.omega)

    def probabilities(self) -> np.ndarray:
        return (1.0 - self.eps) * self.rho() + self.eps / self.n_tasks

    def update(self, task: int, reward: float) -> None:
        self._check_task(task)
        if not np.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        rho = self.rho()
        r_tilde = np.zeros(self.n_tasks)
        r_tilde[task] = reward / rho[task]
        a = self.omega + self.eta * r_tilde                      # log of the un-mixed weights
        alpha = 1.0 / (self.t + 1)                                # α_{t+1}
        n = self.n_tasks
        m = a.max()
        e = np.exp(a - m)
        others = (e.sum() - e) / (n - 1)                          # mean over j ≠ k
        self.omega = m + np.log((1.0 - alpha) * e + alpha * others)
        self.t += 1


class PolicyRunConfig(Protocol):
    """The settings every multi-seed policy comparison reads (the suite's and GLUE's configs extend it)."""

    @property
    def seeds(self) -> tuple[int, ...]: ...
    @property
    def eta(self) -> float: ...                                # Exp3.S
    @property
    def eps(self) -> float: ...
