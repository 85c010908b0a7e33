"""Benchmark: our Nash-bargaining solve vs the official Nash-MTL formulation rebuilt with cvxpy.

The official formulation (Navon et al., 2022, §4 "Practical speedup"; reconstructed here from the method, not
copied): normalise M = G Gᵀ by c = ||M||_F, then run up to 20 convex sub-problems in α ≥ 0,

    minimise  Σ_i (M̂ α)_i + ∇φ(α_prev)ᵀ (α − α_prev) / c
    s.t.      log(c α_i) + log((M̂ α)_i) ≥ 0   for every i,

with φ(α) = Σ log α_i + Σ log (M̂α)_i linearised at the previous iterate; stop early when α stops moving
(||α − α_prev|| < 1e-6) or ||M̂α − 1/α|| < 1e-3. The previous call's α warm-starts the next call. The official code
uses ECOS (``pip install -e ".[bench]"``); the loop also runs with SCS (a first-order solver, less accurate) and
Clarabel (the interior-point solver that replaced ECOS as cvxpy's default). A solver error, or an iterate with
some α_i = 0 (which makes the next linearisation infinite), ends the loop unconverged.

Usage: ``python benchmarks/nash_solver.py [--calls 30] [--ks 2,11,40] [--solvers SCS,CLARABEL]``.
Reports the median time per call (ms) of each, the speed-up, how often the official loop stopped by its own rule
and how often it actually solved the problem (:data:`SOLVED_RESIDUAL`), and α's agreement where it solved it.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import cvxpy as cp
import numpy as np

from mtlnotes.weighting.nash import solve_nash_gram


class OfficialFormulation:
    """The sequential-convex cvxpy loop (rebuilt); ``solve(M)`` returns (α, converged, iterations)."""

    def __init__(self, k: int, solver: str, n_iter: int = 20) -> None:
        self.k, self.solver, self.n_iter = k, solver, n_iter
        self.alpha = cp.Variable(k, nonneg=True)
        self.prev = cp.Parameter(k, value=np.ones(k))
        self.gram = cp.Parameter((k, k), value=np.eye(k))
        self.c = cp.Parameter(1, value=np.ones(1))
        g_prev = self.gram @ self.prev
        grad_phi = 1 / self.prev + (1 / g_prev) @ self.gram
        g_alpha = self.gram @ self.alpha
        cons = [-cp.log(self.alpha[i] * self.c) - cp.log(g_alpha[i]) <= 0 for i in range(k)]
        self.problem = cp.Problem(cp.Minimize(cp.sum(g_alpha) + grad_phi @ (self.alpha - self.prev) / self.c), cons)
        self.last = np.ones(k)

    def solve(self, m: np.ndarray) -> tuple[np.ndarray, bool, int]:
        c = np.linalg.norm(m)
        mh = m / c
        self.gram.value, self.c.value = mh, np.array([c])
        a = self.last
        converged = False
        for it in range(1, self.n_iter + 1):
            self.alpha.value, self.prev.value = a, a
            try:
                self.problem.solve(solver=self.solver, warm_start=True)
            except (cp.error.SolverError, ValueError):  # ValueError: an α_i = 0 iterate makes ∇φ infinite
                break
            new = self.alpha.value
            if new is None or self.problem.status not in ("optimal", "optimal_inaccurate") or np.any(new <= 0):
                break
            if np.linalg.norm(mh @ new - 1 / (new + 1e-10)) < 1e-3 or np.linalg.norm(new - a) < 1e-6:
                a, converged = new, True
                break
            a = new
        self.last = a
        return a, converged, it


#: The official loop counts as having *solved* a call when its α meets the bargaining condition α ⊙ (Mα) = 1 to
#: this max-abs residual. Its own stopping rule is no such test: it also stops when α stops moving, and at K = 40
#: that happens away from the solution (residuals of 4-8 in some calls).
SOLVED_RESIDUAL = 1e-3


def problems(k: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """n random well-conditioned Gram matrices of K gradients in ℝ^{4K}."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g = rng.normal(size=(k, 4 * k)) * rng.uniform(0.5, 2.0, size=(k, 1))
        out.append(g @ g.T)
    return out


def bench(k: int, calls: int, solver: str) -> dict:
    ms = problems(k, calls)
    ours_t, ours_a = [], []
    for m in ms:
        t = time.perf_counter()
        a, _ = solve_nash_gram(m)
        ours_t.append(time.perf_counter() - t)
        ours_a.append(a)
    off = OfficialFormulation(k, solver)
    off.solve(ms[0])  # first call compiles the problem: excluded, as in a training run
    off_t, rel, n_conv, n_solved, resid = [], [], 0, 0, []
    for m, a in zip(ms, ours_a):
        t = time.perf_counter()
        b, conv, _ = off.solve(m)
        off_t.append(time.perf_counter() - t)
        resid.append(float(np.max(np.abs(b * (m @ b) - 1))))
        n_conv += conv
        if resid[-1] <= SOLVED_RESIDUAL:
            n_solved += 1
            rel.append(float(np.max(np.abs(b - a) / a)))
    ours_ms, off_ms = 1e3 * float(np.median(ours_t)), 1e3 * float(np.median(off_t))
    return {"K": k, "solver": solver, "calls": calls, "ours_ms": ours_ms, "official_ms": off_ms,
            "speedup": off_ms / ours_ms, "official_stopped_by_rule": n_conv, "official_solved": n_solved,
            "max_rel_diff_where_solved": max(rel) if rel else None,
            "median_rel_diff_where_solved": float(np.median(rel)) if rel else None,
            "official_median_residual": float(np.median(resid)), "official_max_residual": float(max(resid)),
            "ours_max_residual": float(max(np.max(np.abs(a * (m @ a) - 1)) for m, a in zip(ms, ours_a)))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--ks", default="2,11,40")
    p.add_argument("--solvers", default="ECOS,SCS,CLARABEL")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args()
    warnings.filterwarnings("ignore", module="cvxpy")  # the formulation is not DPP: it recompiles every solve
    rows = []
    for solver in args.solvers.split(","):
        if solver not in cp.installed_solvers():
            print(f"{solver}: not installed, skipped")
            continue
        for k in (int(s) for s in args.ks.split(",")):
            r = bench(k, args.calls, solver)
            rows.append(r)
            print(f"K={k:3d} {solver:9s} ours {r['ours_ms']:8.3f} ms  official {r['official_ms']:8.1f} ms  "
                  f"speed-up {r['speedup']:7.0f}x  stopped by its rule {r['official_stopped_by_rule']}/{args.calls}, "
                  f"solved {r['official_solved']}/{args.calls}  max rel diff where solved "
                  f"{r['max_rel_diff_where_solved']}  official resid median {r['official_median_residual']:.2g} max "
                  f"{r['official_max_residual']:.2g}  ours resid max {r['ours_max_residual']:.2g}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
