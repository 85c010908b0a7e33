"""The Weighted Policy Learner (Abdallah & Lesser, 2008) as used by Routing Networks
(Rosenbaum et al., 2018, Algorithm 3 and Appendix 7.4).

On the sign convention. Algorithm 3 as printed scales a negative gradient by ``1 - pi(a)`` and a positive one
by ``pi(a)``; Appendix 7.4 of the same paper and the original WPL of Abdallah & Lesser (2008) do the opposite
(positive → ``1 - pi(a)``, which slows the approach to a pure strategy; negative → ``pi(a)``). Both are
implemented: ``scaling="algorithm3"`` follows Algorithm 3 (and §3.1.2) exactly as printed, and
``scaling="abdallah"`` follows Appendix 7.4 / the original algorithm. The one default, :data:`DEFAULT_SCALING`,
is ``"algorithm3"``; ``wpl_update``, :class:`~mtlnotes.routing.agents.WPLRouter`,
:class:`~mtlnotes.routing.builders.RouterSettings` and the routing chapter all take it from here.

On the average return. Algorithm 3 keeps "the historical average return R̂_i for each action a_i of the
trace"; ``i`` indexes the trace, i.e. the routing depth. We keep one R̂ per (agent, depth), so that
``Δ = R_i - R̂_i`` compares a return with the average return at that depth (a baseline).
"""

from __future__ import annotations

import numpy as np

from mtlnotes.routing.projection import simplex_projection

__all__ = ["DEFAULT_SCALING", "SCALINGS", "wpl_update"]

SCALINGS = ("abdallah", "algorithm3")
#: The library's one WPL sign convention default: Algorithm 3 as printed (see the module docstring).
DEFAULT_SCALING = "algorithm3"


def wpl_update(pi: np.ndarray, rhat: np.ndarray, actions: np.ndarray, returns: np.ndarray, lr: float,
               scaling: str = DEFAULT_SCALING) -> tuple[np.ndarray, np.ndarray]:
    """One WPL update (Algorithm 3) for one trace of one agent; returns the new ``(pi, rhat)``.

    pi (D, A) the agent's policy table (row d: probabilities at depth d; unavailable actions hold 0),
    rhat (D,) historical average returns, actions (D,) the actions of the trace, returns (D,) their
    returns ``R_i``. Per depth i (lines 5–13): ``R̂_i ← (1-λ)R̂_i + λR_i``; ``Δ = R_i - R̂_i``; Δ weighted by
    ``1 - pi(a_i)`` or ``pi(a_i)`` (see the module docstring); ``pi ← simplex_projection(pi + λΔ)``, where
    Δ is zero except at the action taken. Inputs are not modified.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if not 0.0 < lr <= 1.0:
        raise ValueError(f"policy learning rate must lie in (0, 1], got {lr}")
    pi = np.array(pi, dtype=np.float64)
    rhat = np.array(rhat, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.int64)
    returns = np.asarray(returns, dtype=np.float64)
    depth = pi.shape[0]
    if pi.ndim != 2 or rhat.shape != (depth,) or actions.shape != (depth,) or returns.shape != (depth,):
        raise ValueError(f"need pi (D, A), rhat (D,), actions (D,), returns (D,); got {pi.shape}, {rhat.shape}, "
                         f"{actions.shape}, {returns.shape}")
    if actions.min() < 0 or actions.max() >= pi.shape[1]:
        raise ValueError(f"action {int(actions.max())} out of range for {pi.shape[1]} actions")
    rows = np.arange(depth)
    rhat = (1.0 - lr) * rhat + lr * returns
    delta = returns - rhat
    p = pi[rows, actions]
    if scaling == "abdallah":
        weight = np.where(delta > 0, 1.0 - p, p)
    else:
        weight = np.where(delta < 0, 1.0 - p, p)
    pi[rows, actions] = p + lr * delta * weight
    return simplex_projection(pi), rhat
