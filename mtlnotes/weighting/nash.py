"""Nash-MTL: the Nash bargaining solution as the multi-task update (Navon et al., 2022, ICML, "Multi-Task
Learning as a Bargaining Game", §3, Claim 3.1 / Eq. 3, Algorithm 1, and §4's practical speed-ups).

With the task gradients g_1 … g_K as the rows of G (K, d), each task's utility of an update Δθ in a small ball
is u_i = g_iᵀ Δθ. The Nash bargaining solution is Δθ = Σ_i α_i g_i where α > 0 solves

    G Gᵀ α = 1 / α        (element-wise; equivalently α ⊙ (G Gᵀ α) = 1).

Our solver: these are exactly the stationarity conditions of the strictly convex function
f(α) = ½ αᵀ M α − Σ_i log α_i on α > 0 (M = G Gᵀ), so we minimise f with Newton's method and a
backtracking line search that keeps α > 0 (the paper instead solves a sequence of convex problems with
cvxpy, §4 "Practical speedup"; see ``benchmarks/nash_solver.py`` for the comparison).

Existence. f has a minimiser exactly when it is bounded below on α > 0, i.e. when no v ≥ 0, v ≠ 0 has
Gᵀ v = 0 — when 0 is not in the convex hull of the gradients. So there is *no* solution at a Pareto-stationary
point (a zero gradient, two opposite collinear gradients, ...): no direction helps every task and the
bargaining game's only outcome is the disagreement point. We raise :class:`NashBargainingError` there rather
than returning something else. (The official code wraps each cvxpy solve in a bare ``except`` that keeps the
previous α without a word: the last iterate, i.e. the weights of the last successful step; only before its first
successful solve is that its initial α = (1, …, 1), equal weights. A failure there is silent, not an error.)
Linearly dependent gradients that do *not* contain 0 in their hull (e.g. g_2 = 2 g_1) have a unique solution,
and we return it (for g_2 = c·g_1 with c > 0: α_1 = 1/(√2 ||g_1||), α_2 = α_1 / c).
"""

from __future__ import annotations

import numpy as np
import torch

from mtlnotes.weighting.base import Aggregation, check_grads
from mtlnotes.weighting.gram import GramWeighting, scaled_gram
from mtlnotes.weighting.scaling import scale_by_power_of_two
from mtlnotes.weighting.simplex import min_norm_weights
from mtlnotes.weighting.threads import one_thread

__all__ = ["NashMTL", "NashBargainingError", "NashSolverError", "hull_sq_norm_lower_bound", "nash_bargaining_weights",
           "solve_nash_gram"]


class NashBargainingError(ValueError):
    """The gradients admit no Nash bargaining solution (0 lies in their convex hull)."""


class NashSolverError(RuntimeError):
    """The solver stopped before reaching its tolerance (a nearly Pareto-stationary, ill-conditioned problem)."""


def _objective(m: np.ndarray, a: np.ndarray) -> float:
    return 0.5 * float(a @ m @ a) - float(np.log(a).sum())


def hull_sq_norm_lower_bound(gram: np.ndarray, alpha: np.ndarray) -> float:
    """A lower bound on min_{w ∈ simplex} ||Gᵀw||² from any α: (min_i (Mα)_i)² / αᵀMα when M α > 0, else 0.

    By Cauchy-Schwarz, ||Gᵀw|| ||Gᵀα|| ≥ wᵀMα ≥ min_i (Mα)_i for w in the simplex. When the bound clears the
    stationarity tolerance, :func:`solve_nash_gram` skips the min-norm solve (an iterative method: most of the
    solve's time at K = 40) and reaches the same verdict."""
    ma = gram @ alpha
    lo = float(np.min(ma))
    return lo * lo / float(alpha @ ma) if lo > 0 else 0.0


def _raise_if_stationary(mh: np.ndarray, stationary_tol: float) -> None:
    """Raise :class:`NashBargainingError` when the min-norm point of the gradients' hull has squared norm
    ≤ ``stationary_tol`` (``mh``: the Gram matrix over its mean diagonal)."""
    w = min_norm_weights(mh)
    min_sq = float(w @ mh @ w)
    if min_sq <= stationary_tol:
        raise NashBargainingError(
            f"no Nash bargaining solution: 0 lies in the convex hull of the gradients (min-norm point has squared "
            f"norm {min_sq:.3g} relative to the mean squared gradient norm, weights {np.round(w, 4).tolist()}); "
            "no update improves every task")


def solve_nash_gram(gram: np.ndarray, tol: float = 1e-10, max_iter: int = 200,
                    stationary_tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Solve α ⊙ (M α) = 1 for a Gram matrix M (K, K) (float64); returns (α (K,), Newton iterations).

    Convergence test: max_i |α_i (Mα)_i − 1| ≤ ``tol`` (if rounding stalls Newton first, ≤ 1e-6 is accepted and
    anything worse raises :class:`NashSolverError`). K = 1 and K = 2 have closed forms. Raises :class:`NashBargainingError` when the minimum
    squared norm of the gradients' convex hull is ≤ ``stationary_tol`` × (mean squared gradient norm).
    """
    m = np.asarray(gram, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"gram must be a square (K, K) matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("gram matrix has non-finite entries")
    k = m.shape[0]
    diag = np.diag(m).copy()
    zero = np.nonzero(diag <= 0)[0]
    if len(zero):
        raise NashBargainingError(
            f"no Nash bargaining solution: task(s) {zero.tolist()} have a zero gradient, so their utility "
            "gᵀΔθ is 0 for every update (a Pareto-stationary point; the disagreement point Δθ = 0 is the only outcome)")
    scale = float(diag.mean())
    mh = m / scale
    if k == 1:
        return np.array([1.0 / np.sqrt(m[0, 0])]), 0
    if k == 2:  # closed form: α₂ = r α₁ with r² = M₁₁/M₂₂, α₁² (M₁₁ + M₁₂ r) = 1
        r = np.sqrt(m[0, 0] / m[1, 1])
        denom = m[0, 0] + m[0, 1] * r  # = ||g1|| (||g1|| + ||g2|| cos θ) ... > 0 unless g2 = −c g1
        if denom <= stationary_tol * m[0, 0]:
            raise NashBargainingError(
                "no Nash bargaining solution: the two gradients point in opposite directions (0 lies in their "
                "convex hull); no update improves both tasks")
        a1 = 1.0 / np.sqrt(denom)
        return np.array([a1, r * a1]), 0
    with one_thread():  # K×K work: threads only add synchronisation
        return _newton(mh, scale, tol, max_iter, stationary_tol)


def _newton(mh: np.ndarray, scale: float, tol: float, max_iter: int, stationary_tol: float) -> tuple[np.ndarray, int]:
    """Newton's method for :func:`solve_nash_gram` on the Gram matrix over its mean diagonal ``mh`` (K, K), K >= 3."""
    k = mh.shape[0]
    a = 1.0 / np.sqrt(np.diag(mh))
    # Pareto-stationarity is checked cheaply where possible: a certificate at the start point, else at Newton's
    # solution, where Mα = 1/α > 0; only without one does the min-norm solve decide (same verdict either way).
    certified = hull_sq_norm_lower_bound(mh, a) > stationary_tol
    a *= np.sqrt(k / float(a @ mh @ a))  # at the solution aᵀ M a = K
    best, stall = np.inf, 0
    for it in range(1, max_iter + 1):
        ma = mh @ a
        resid = float(np.max(np.abs(a * ma - 1.0)))
        if resid <= tol:
            if not certified and hull_sq_norm_lower_bound(mh, a) <= stationary_tol:
                _raise_if_stationary(mh, stationary_tol)
            return a / np.sqrt(scale), it - 1
        if resid < 0.5 * best:
            best, stall = resid, 0
        else:
            stall += 1
            if stall >= 8:  # stuck at the rounding floor of an ill-conditioned problem
                break
        grad = ma - 1.0 / a
        hess = mh + np.diag(1.0 / (a * a))
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:  # pragma: no cover - hess is positive definite
            step = -grad
        neg = step < 0
        t = min(1.0, 0.99 * float(np.min(-a[neg] / step[neg]))) if neg.any() else 1.0
        f0, slope, gnorm = _objective(mh, a), float(grad @ step), float(np.linalg.norm(grad))

        def accept(t: float) -> bool:  # Armijo, or (near the optimum, where f is flat to rounding) a smaller gradient
            b = a + t * step
            return (_objective(mh, b) <= f0 + 1e-4 * t * slope
                    or np.linalg.norm(mh @ b - 1.0 / b) <= 0.5 * gnorm)

        while not accept(t) and t > 1e-12:
            t *= 0.5
        a = a + t * step
    ma = mh @ a
    resid = float(np.max(np.abs(a * ma - 1.0)))
    if not certified and (resid > max(tol, 1e-6) or hull_sq_norm_lower_bound(mh, a) <= stationary_tol):
        _raise_if_stationary(mh, stationary_tol)
    if resid <= max(tol, 1e-6):
        return a / np.sqrt(scale), it
    raise NashSolverError(f"Nash bargaining solver did not converge: residual {resid:.3g} after {max_iter} iterations "
                       "(the gradients are nearly Pareto-stationary)")


def nash_bargaining_weights(grads: torch.Tensor, tol: float = 1e-10, max_iter: int = 200) -> torch.Tensor:
    """α (K,) > 0 with α ⊙ (G Gᵀ α) = 1 for per-task gradients ``grads`` = G (K, d) (Navon et al., 2022, Eq. 3).

    Solved in float64 to ``tol`` (max relative residual); returned in ``grads``'s dtype and device.
    Non-finite gradients: ValueError naming the tasks. K = 1: α = 1/||g||. No solution (0 in the convex hull of
    the gradients, e.g. a zero gradient or g_2 = −g_1): :class:`NashBargainingError` (a ValueError).

    >>> nash_bargaining_weights(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))   # orthogonal: α_i = 1/||g_i||
    tensor([1.0000, 0.5000])
    """
    grads = check_grads(grads)
    _, gram, e = scaled_gram(grads)  # α(G) = α(G·2^e)·2^e
    alpha, _ = solve_nash_gram(gram.cpu().numpy(), tol=tol, max_iter=max_iter)
    return scale_by_power_of_two(torch.from_numpy(alpha), e).to(grads.dtype).to(grads.device)


class NashMTL(GramWeighting):
    """Nash-MTL (Navon et al., 2022, Algorithm 1) with the paper's practical options.

    ``max_norm``: the shared update is scaled down to norm ≤ max_norm (official default 1.0; None: off).
    ``update_every``: solve for α only every N steps and reuse it in between (§4 "Practical speedup"; the
    trainer then skips the per-task gradients on those steps). ``on_stationary``: what to do when there is no
    bargaining solution (0 in the gradients' convex hull): ``"raise"`` (default) or ``"zero"`` — return the
    disagreement point, a zero shared update, with zero task weights; never a silent switch to another method.
    The last weights are in ``self.alpha``; ``self.n_solves`` / ``self.n_stationary`` count events.
    """

    name = "Nash-MTL"
    weights_degree = -1  # α(s G) = α(G) / s

    def __init__(self, max_norm: float | None = 1.0, update_every: int = 1, on_stationary: str = "raise",
                 tol: float = 1e-10) -> None:
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"max_norm must be > 0 or None, got {max_norm}")
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        if on_stationary not in ("raise", "zero"):
            raise ValueError(f"on_stationary must be 'raise' or 'zero', got {on_stationary!r}")
        self.max_norm = max_norm
        self.update_every = int(update_every)
        self.on_stationary = on_stationary
        self.tol = tol
        self.alpha: torch.Tensor | None = None
        self.step = 0
        self.n_solves = 0
        self.n_stationary = 0

    def reuse_weights(self) -> torch.Tensor | None:
        if self.alpha is not None and self.step % self.update_every != 0:
            self.step += 1
            return self.alpha
        return None

    def clip_norm(self) -> float | None:
        return self.max_norm

    def weights(self, gram: torch.Tensor) -> torch.Tensor:
        """α (K,) with α ⊙ (M α) = 1 (:func:`solve_nash_gram`)."""
        return torch.from_numpy(solve_nash_gram(gram.cpu().numpy(), tol=self.tol)[0])

    def aggregate(self, grads: torch.Tensor, losses: torch.Tensor | None = None) -> Aggregation:
        grads = check_grads(grads)
        self.step += 1
        try:
            agg = super().aggregate(grads)
        except NashBargainingError:
            if self.on_stationary == "raise":
                raise
            self.n_stationary += 1
            alpha = torch.zeros(grads.shape[0], dtype=grads.dtype, device=grads.device)
            agg = Aggregation(direction=alpha @ grads, weights=alpha)
        self.n_solves += 1
        self.alpha = agg.weights
        d = agg.direction
        if self.max_norm is not None:
            norm = float(d.detach().norm())
            if norm > self.max_norm:
                d = d * (self.max_norm / norm)
        return Aggregation(direction=d, weights=agg.weights)
