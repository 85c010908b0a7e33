"""Sample-level rewards for task selection (Glover & Hokamp, 2019, §3.2.1 and §3.3.3).

* :func:`prediction_gain` — the ACL reward of Graves et al. (2017): loss before minus loss after the update.
* :class:`RewardScaler` — Eq. 6: map an unscaled reward to [−1, 1] with the 20th/80th percentiles of a
  reservoir sample of the reward history.
* :class:`ProgressReward` — Eq. 16, the reward used to learn π^C: if task k's loss decreased since task k
  was last sampled, r_t = 1 − exp(−L_k(x_t, θ_t)), else 0.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["prediction_gain", "RewardScaler", "ProgressReward"]


def prediction_gain(loss_before: float, loss_after: float) -> float:
    """L_k(x, θ) − L_k(x, θ'): the loss on a sample before minus after the gradient step on it (§3.2.1)."""
    if not (math.isfinite(loss_before) and math.isfinite(loss_after)):
        raise ValueError(f"losses must be finite, got {loss_before} and {loss_after}")
    return float(loss_before - loss_after)


def _percentiles_20_80(values: np.ndarray) -> tuple[float, float]:
    """numpy's default ("linear") 20th and 80th percentiles, without np.percentile's per-call overhead."""
    s = np.sort(values)
    out = []
    for q in (0.2, 0.8):
        pos = q * (s.size - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, s.size - 1)
        out.append(float(s[lo] + (s[hi] - s[lo]) * (pos - lo)))
    return out[0], out[1]


class RewardScaler:
    """Reward scaling of Eq. 6 (Graves et al., 2017) with a reservoir sample of past unscaled rewards.

    ``scale(r)`` first adds ``r`` to the reservoir (Algorithm R: the first ``capacity`` rewards are kept,
    afterwards the i-th reward replaces a random slot with probability capacity/i), then returns −1 if
    r < q20, 1 if r > q80 and 2(r − q20)/(q80 − q20) − 1 otherwise, where q20/q80 are the 20th/80th
    percentiles of the reservoir (numpy's linear interpolation). When q80 = q20 the middle case is 0.
    """

    def __init__(self, capacity: int = 1000, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"reservoir capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._rng = np.random.default_rng(seed)
        self._buf = np.empty(capacity)
        self.seen = 0

    @property
    def reservoir(self) -> np.ndarray:
        return self._buf[:min(self.seen, self.capacity)].copy()

    def add(self, r: float) -> None:
        self.seen += 1
        if self.seen <= self.capacity:
            self._buf[self.seen - 1] = float(r)
        else:
            j = int(self._rng.integers(0, self.seen))
            if j < self.capacity:
                self._buf[j] = float(r)

    def scale(self, r: float) -> float:
        if not math.isfinite(r):
            raise ValueError(f"reward must be finite, got {r}")
        self.add(r)
        q20, q80 = _percentiles_20_80(self._buf[:min(self.seen, self.capacity)])
        if r < q20:
            return -1.0
        if r > q80:
            return 1.0
        if q80 == q20:
            return 0.0
        return float(2.0 * (r - q20) / (q80 - q20) - 1.0)


class ProgressReward:
    """The sample-level reward of Eq. 16 for ``n_tasks`` tasks.

    ``reward(task, loss)`` compares the negative log-likelihood ``loss`` = L_k(x_t, θ_t) with the loss seen the
    last time the same task was sampled (t − δ_k): if it decreased the reward is 1 − exp(−loss) (∈ [0, 1]),
    otherwise 0. The first time a task is seen there is nothing to compare with, and the reward is 0.
    """

    def __init__(self, n_tasks: int) -> None:
        if n_tasks < 1:
            raise ValueError(f"need at least one task, got {n_tasks}")
        self.n_tasks = n_tasks
        self.last = [math.nan] * n_tasks

    def reward(self, task: int, loss: float) -> float:
        if not 0 <= task < self.n_tasks:
            raise ValueError(f"task id {task} out of range for {self.n_tasks} tasks")
        if not math.isfinite(loss) or loss < 0:
            raise ValueError(f"loss must be a finite negative log-likelihood (>= 0), got {loss}")
        prev, self.last[task] = self.last[task], float(loss)
        if math.isnan(prev) or not loss - prev < 0:
            return 0.0
        return float(1.0 - math.exp(-loss))
