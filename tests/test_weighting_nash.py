"""Nash-MTL: the bargaining solver α ⊙ (G Gᵀ α) = 1 (Navon et al., 2022, Eq. 3) and its practical options."""

import cvxpy as cp
import numpy as np
import pytest
import torch

from mtlnotes.weighting import NashBargainingError, NashMTL, nash_bargaining_weights, solve_nash_gram


def _well_conditioned(k, d, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, k)))
    return (q * rng.uniform(0.5, 2.0, size=k)).T @ np.eye(d) + 0.1 * rng.normal(size=(k, d)) / np.sqrt(d)


@pytest.mark.parametrize("k", [2, 3, 11, 40])
def test_invariant_holds_to_tight_tolerance(k):
    g = torch.tensor(_well_conditioned(k, 3 * k, k))
    alpha = nash_bargaining_weights(g)
    assert alpha.shape == (k,) and (alpha > 0).all()
    assert torch.allclose(alpha * (g @ g.T @ alpha), torch.ones(k, dtype=torch.float64), atol=1e-9)


def test_orthogonal_gradients_closed_form():
    # G Gᵀ = diag(n_i²): α_i = 1 / n_i, so every task gets a unit-norm share
    g = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(nash_bargaining_weights(g), torch.tensor([1 / 3, 2.0, 0.5], dtype=torch.float64))


def test_two_tasks_hand_computed():
    # unit gradients at 60°: M = [[1, ½], [½, 1]]; by symmetry α1 = α2 = a with a (a + a/2) = 1 → a = √(2/3)
    g = torch.tensor([[1.0, 0.0], [0.5, np.sqrt(3) / 2]], dtype=torch.float64)
    assert torch.allclose(nash_bargaining_weights(g), torch.full((2,), np.sqrt(2 / 3), dtype=torch.float64))


def test_scale_equivariance():
    # scaling g_i by c_i > 0 divides α_i by c_i (the update Σ α_i g_i is unchanged: invariance to loss scale)
    g = torch.tensor(_well_conditioned(5, 12, 0))
    c = torch.tensor([1.0, 10.0, 0.1, 3.0, 1e3], dtype=torch.float64)
    a, b = nash_bargaining_weights(g), nash_bargaining_weights(g * c[:, None])
    assert torch.allclose(b, a / c, rtol=1e-8)
    assert torch.allclose(b @ (g * c[:, None]), a @ g, rtol=1e-8)


def _cvxpy_oracle(m):
    # the same problem as a convex program: minimise ½ αᵀMα − Σ log α (its optimality condition is Mα = 1/α)
    k = m.shape[0]
    a = cp.Variable(k)
    chol = np.linalg.cholesky(m + 1e-12 * np.eye(k))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(chol.T @ a) - cp.sum(cp.log(a))))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10)
    return a.value


@pytest.mark.parametrize("k,seed", [(2, 0), (4, 1), (11, 2), (25, 3), (40, 4)])
def test_agrees_with_cvxpy_on_random_problems(k, seed):
    g = _well_conditioned(k, 2 * k + 3, seed)
    m = g @ g.T
    ours, _ = solve_nash_gram(m)
    ref = _cvxpy_oracle(m)
    # rtol 1e-4 (the agreement criterion): with the portable numerics that `import mtlnotes` pins
    # (MKL_CBWR=COMPATIBLE), Clarabel reports "Solution may be inaccurate" at K = 40 and its α is ~3e-5 off;
    # the residual check below shows that the oracle, not ours, is the less accurate one
    assert np.allclose(ours, ref, rtol=1e-4)
    # and ours satisfies the optimality condition at least as tightly as the conic solver's answer
    resid = lambda a: np.max(np.abs(a * (m @ a) - 1))  # noqa: E731
    assert resid(ours) <= max(resid(ref), 1e-9)


def test_collinear_same_direction_has_a_solution():
    g1 = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)  # ||g1|| = 3
    g = torch.stack([g1, 2 * g1])
    alpha = nash_bargaining_weights(g)
    a1 = 1 / (np.sqrt(2) * 3)
    assert torch.allclose(alpha, torch.tensor([a1, a1 / 2], dtype=torch.float64))
    assert torch.allclose(alpha * (g @ g.T @ alpha), torch.ones(2, dtype=torch.float64))


def test_more_tasks_than_dimensions():
    # K = 5 gradients in ℝ², all in an open half-plane: linearly dependent but a solution exists
    ang = np.linspace(-0.6, 0.6, 5)
    g = torch.tensor(np.stack([np.cos(ang), np.sin(ang)], 1) * np.arange(1, 6)[:, None])
    alpha = nash_bargaining_weights(g)
    assert torch.allclose(alpha * (g @ g.T @ alpha), torch.ones(5, dtype=torch.float64), atol=1e-9)


def test_single_task():
    assert torch.allclose(nash_bargaining_weights(torch.tensor([[3.0, 4.0]])), torch.tensor([0.2]))


@pytest.mark.parametrize("g,what", [
    ([[1.0, 0.0], [0.0, 0.0]], "task\\(s\\) \\[1\\] have a zero gradient"),
    ([[1.0, 2.0], [-2.0, -4.0]], "convex hull"),
    ([[1.0, 0.0], [-0.5, 0.5], [-0.5, -0.5]], "convex hull"),
    ([[0.0, 0.0]], "zero gradient"),
])
def test_pareto_stationary_inputs_raise_clearly(g, what):
    with pytest.raises(NashBargainingError, match=what):
        nash_bargaining_weights(torch.tensor(g))


def test_non_finite_inputs_raise():
    with pytest.raises(ValueError, match="non-finite gradient for task\\(s\\) \\[0\\]"):
        nash_bargaining_weights(torch.tensor([[float("nan"), 1.0], [1.0, 1.0]]))


def test_float32_input_float32_output():
    g = torch.tensor(_well_conditioned(6, 20, 9), dtype=torch.float32)
    alpha = nash_bargaining_weights(g)
    assert alpha.dtype == torch.float32
    assert torch.allclose(alpha * (g @ g.T @ alpha), torch.ones(6), atol=1e-4)


def test_aggregator_clips_and_reuses():
    g = torch.tensor([[10.0, 0.0], [0.0, 20.0]], dtype=torch.float64)
    nash = NashMTL(max_norm=0.5, update_every=3)
    agg = nash.aggregate(g)
    assert torch.allclose(agg.weights, torch.tensor([0.1, 0.05], dtype=torch.float64))
    # unclipped update (1, 1) has norm √2 > 0.5: scaled to norm 0.5
    assert agg.direction.norm().item() == pytest.approx(0.5)
    assert nash.clip_norm() == 0.5
    # the next two steps reuse α without new gradients, the third solves again
    assert torch.equal(nash.reuse_weights(), agg.weights)
    assert torch.equal(nash.reuse_weights(), agg.weights)
    assert nash.reuse_weights() is None
    nash.aggregate(g)
    assert nash.n_solves == 2


def test_aggregator_stationary_policy():
    g = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    with pytest.raises(NashBargainingError):
        NashMTL().aggregate(g)
    nash = NashMTL(on_stationary="zero")
    agg = nash.aggregate(g)
    assert torch.equal(agg.direction, torch.zeros(2)) and torch.equal(agg.weights, torch.zeros(2))
    assert nash.n_stationary == 1
    with pytest.raises(ValueError, match="on_stationary"):
        NashMTL(on_stationary="equal")
    with pytest.raises(ValueError, match="update_every"):
        NashMTL(update_every=0)


def test_newton_converges_fast():
    _, iters = solve_nash_gram(_well_conditioned(40, 100, 1) @ _well_conditioned(40, 100, 1).T)
    assert iters <= 30


@pytest.mark.parametrize("seed", range(6))
def test_hull_norm_certificate_never_exceeds_the_min_norm(seed):
    # the bound that lets the solver skip the min-norm solve must be a true lower bound on min_w ||Gᵀw||², for
    # agreeing, conflicting and stationary gradient sets alike
    from mtlnotes.weighting.nash import hull_sq_norm_lower_bound
    from mtlnotes.weighting.simplex import min_norm_weights

    rng = np.random.default_rng(seed)
    k = 3 + seed
    g = rng.normal(size=(k, 2 * k)) + (1.5 - 0.5 * seed) * rng.normal(size=(1, 2 * k))  # shared part: agree...
    if seed == 5:
        g[-1] = -g[:-1].sum(0)  # ...or 0 in the hull (Pareto-stationary)
    m = g @ g.T
    w = min_norm_weights(m)
    min_sq = float(w @ m @ w)
    for alpha in (1 / np.sqrt(np.diag(m)), np.ones(k), rng.uniform(0.1, 2.0, k)):
        bound = hull_sq_norm_lower_bound(m, alpha)
        assert 0 <= bound <= min_sq * (1 + 1e-9) + 1e-12
    if seed == 5:
        assert hull_sq_norm_lower_bound(m, np.ones(k)) == 0.0
    elif np.all(w > 1e-9):  # interior min-norm point: M w* = min_sq · 1, so the bound at α = w* is tight
        assert hull_sq_norm_lower_bound(m, w) == pytest.approx(min_sq, rel=1e-8)


def test_certificate_and_min_norm_paths_give_the_same_solution(monkeypatch):
    g = torch.tensor(_well_conditioned(12, 48, 3))
    m = (g @ g.T).numpy()
    from mtlnotes.weighting.nash import hull_sq_norm_lower_bound

    assert hull_sq_norm_lower_bound(m / np.diag(m).mean(), 1 / np.sqrt(np.diag(m) / np.diag(m).mean())) > 1e-10
    fast, _ = solve_nash_gram(m)
    monkeypatch.setattr("mtlnotes.weighting.nash.hull_sq_norm_lower_bound", lambda *a: 0.0)  # force min-norm
    slow, _ = solve_nash_gram(m)
    assert np.array_equal(fast, slow)


@pytest.mark.parametrize("k", [11, 40])
def test_large_stationary_sets_raise_after_newton_fails(k):
    # without a certificate at the start point the solver runs Newton first; a Pareto-stationary set (the last
    # gradient cancels the others' sum) must still end in the same clear error, not in NashSolverError
    rng = np.random.default_rng(k)
    g = rng.normal(size=(k, 2 * k))
    g[-1] = -g[:-1].sum(0)
    with pytest.raises(NashBargainingError, match="convex hull"):
        solve_nash_gram(g @ g.T)
