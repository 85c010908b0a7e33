"""Off-policy value estimators for task selection logs (Glover & Hokamp, 2019, §3.3.1).

A log of T steps holds, for every step t, the probability ``behavior_probs[t]`` = π(a_t) that the logging
policy gave the task it chose, the probability ``target_probs[t]`` = π^C(a_t) that the policy being
evaluated gives the same task, and the observed reward ``rewards[t]``.

* :func:`is_estimate` — importance sampling, Eq. 10: V̂_IS = (1/T) Σ_t (π^C(a_t)/π(a_t)) r_t.
* :func:`wis_estimate` — weighted importance sampling, Eq. 11: V̂_WIS = V̂_IS / Z with
  Z = (1/T) Σ_t π^C(a_t)/π(a_t).
* :func:`entropy` — H(π) of a categorical policy, the regulariser of Eq. 14.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["importance_weights", "is_estimate", "wis_estimate", "entropy"]

ArrayLike = np.ndarray | torch.Tensor | list | tuple


def _as_1d(name: str, values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per logged step), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def importance_weights(behavior_probs: ArrayLike, target_probs: ArrayLike) -> np.ndarray:
    """w_t = π^C(a_t) / π(a_t) for each logged step (Eq. 9–10); shapes (T,) → (T,).

    Raises ``ValueError`` for mismatched lengths, an empty log, probabilities outside [0, 1], or a zero
    logging probability (the estimator is undefined where the logging policy has no support).
    """
    b = _as_1d("behavior_probs", behavior_probs)
    p = _as_1d("target_probs", target_probs)
    if b.shape != p.shape:
        raise ValueError(f"behavior_probs has {b.shape[0]} entries but target_probs has {p.shape[0]}")
    if b.size == 0:
        raise ValueError("the log is empty: need at least one step")
    if np.any(b <= 0):
        t = int(np.flatnonzero(b <= 0)[0])
        raise ValueError(f"behavior probability at step {t} is {b[t]}; importance sampling needs the logging "
                         f"policy to give every logged action a positive probability")
    if np.any(b > 1) or np.any(p < 0) or np.any(p > 1):
        raise ValueError("probabilities must lie in [0, 1] (behavior in (0, 1])")
    return p / b


def _rewards(rewards: ArrayLike, n: int) -> np.ndarray:
    r = _as_1d("rewards", rewards)
    if r.shape[0] != n:
        raise ValueError(f"rewards has {r.shape[0]} entries but the probabilities have {n}")
    return r


def is_estimate(behavior_probs: ArrayLike, target_probs: ArrayLike, rewards: ArrayLike) -> float:
    """Importance sampling (inverse propensity score) estimate V̂_IS(π^C) of Eq. 10.

    All inputs have shape (T,). Unbiased when the logging policy covers the target's support.
    """
    w = importance_weights(behavior_probs, target_probs)
    r = _rewards(rewards, w.shape[0])
    return float(np.mean(w * r))


def wis_estimate(behavior_probs: ArrayLike, target_probs: ArrayLike, rewards: ArrayLike) -> float:
    """Weighted importance sampling estimate V̂_WIS(π^C) = V̂_IS / Z of Eq. 11 (Rubinstein, 1981).

    All inputs have shape (T,). Raises ``ValueError`` when every importance weight is zero (Z = 0), i.e. the
    target policy gives zero probability to every logged action.
    """
    w = importance_weights(behavior_probs, target_probs)
    r = _rewards(rewards, w.shape[0])
    z = w.sum()
    if z <= 0:
        raise ValueError("all importance weights are zero (the target policy never takes a logged action); "
                         "V̂_WIS is undefined")
    return float((w * r).sum() / z)


def entropy(probs: ArrayLike) -> float:
    """Shannon entropy H(π) = −Σ_k π(k) log π(k) (natural log, 0 log 0 = 0) of one distribution (N,)."""
    p = _as_1d("probs", probs)
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0, atol=1e-8):
        raise ValueError(f"probs must be a distribution (non-negative, summing to 1), got sum {p.sum():.6g}")
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum())
