"""Known answers for the ten baseline methods (LS, SI, RLW, DWA, UW, MGDA, PCGrad, CAGrad, IMTL-G, GradDrop)."""

import math

import cvxpy as cp
import numpy as np
import pytest
import torch

from mtlnotes.weighting import (CAGrad, DWA, GradDrop, IMTLG, LS, METHODS, MGDA, PCGrad, RLW, SI, UW, imtl_weights,
                                make_method, min_norm_weights, project_simplex)

T = lambda *rows: torch.tensor(rows, dtype=torch.float64)  # noqa: E731


# ---------------------------------------------------------------- loss weightings
def test_ls_and_si_known_values():
    losses = torch.tensor([2.0, 0.5], requires_grad=True)
    assert LS().combine(losses).item() == pytest.approx(2.5)
    assert LS(torch.tensor([1.0, 4.0])).combine(losses).item() == pytest.approx(4.0)
    si = SI().combine(losses)
    assert si.item() == pytest.approx(math.log(2.0) + math.log(0.5))
    si.backward()
    assert torch.allclose(losses.grad, torch.tensor([0.5, 2.0]))  # d/dL log L = 1/L
    assert torch.allclose(SI().weights(losses), torch.tensor([0.5, 2.0]))
    with pytest.raises(ValueError, match="loss <= 0"):
        SI().combine(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="non-finite"):
        LS().combine(torch.tensor([1.0, float("nan")]))


def test_si_is_scale_invariant():
    # the direction of SI's gradient does not change when one loss is multiplied by a constant
    theta = torch.tensor([0.3, -0.7], requires_grad=True)

    def grad(scale):
        losses = torch.stack([(theta[0] - 1) ** 2 + 0.1, scale * ((theta[1] + 2) ** 2 + 0.1)])
        return torch.autograd.grad(SI().combine(losses), theta)[0]

    assert torch.allclose(grad(1.0), grad(1000.0))


def test_rlw_weights_are_softmax_of_gaussians_and_seeded():
    a, b = RLW(seed=3), RLW(seed=3)
    losses = torch.tensor([1.0, 2.0, 3.0])
    va, vb = a.combine(losses), b.combine(losses)
    assert va.item() == vb.item()
    w = a.weights(losses)
    assert w.sum().item() == pytest.approx(1.0) and (w > 0).all()
    g = torch.Generator().manual_seed(3)
    assert torch.allclose(w, torch.softmax(torch.randn(3, generator=g, dtype=torch.float64), 0).float())
    draws = torch.stack([a.sample(3) for _ in range(4000)])
    assert torch.allclose(draws.mean(0), torch.full((3,), 1 / 3), atol=0.02)  # exchangeable


def test_dwa_hand_computed():
    dwa = DWA(temperature=2.0)
    losses = torch.tensor([1.0, 1.0])
    assert torch.equal(dwa.weights(losses), torch.ones(2))
    dwa.end_epoch(torch.tensor([1.0, 2.0]))
    assert torch.equal(dwa.weights(losses), torch.ones(2))  # still fewer than two epochs
    dwa.end_epoch(torch.tensor([0.5, 2.0]))  # ratios r = (0.5, 1.0)
    e = np.exp([0.25, 0.5])
    assert np.allclose(dwa.weights(losses).numpy(), 2 * e / e.sum())
    assert dwa.weights(losses).sum().item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="temperature"):
        DWA(0.0)


def test_uw_objective_and_optimum():
    uw = UW(2)
    losses = torch.tensor([4.0, 0.25])
    assert uw.combine(losses).item() == pytest.approx(0.5 * (4.0 + 0.25))
    # for fixed losses the optimal log-variance is log L (d/ds [exp(-s) L + s] = 0)
    opt = torch.optim.SGD(uw.parameters(), lr=0.5)
    for _ in range(500):
        opt.zero_grad()
        uw.combine(losses).backward()
        opt.step()
    assert torch.allclose(uw.log_var.detach(), torch.log(losses), atol=1e-4)
    with pytest.raises(ValueError, match="2 tasks"):
        uw.combine(torch.ones(3))


# ---------------------------------------------------------------- MGDA / min-norm
def test_project_simplex():
    assert np.allclose(project_simplex(np.array([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5])
    assert np.allclose(project_simplex(np.array([2.0, 0.0])), [1.0, 0.0])
    assert np.allclose(project_simplex(np.array([1.0, 1.0])), [0.5, 0.5])


def test_mgda_hand_made_2d():
    # orthogonal unit gradients: the min-norm point is their midpoint
    agg = MGDA().aggregate(T([1.0, 0.0], [0.0, 1.0]))
    assert torch.allclose(agg.direction, T(1.0, 1.0))  # K · (½, ½)
    assert torch.allclose(agg.weights, T(1.0, 1.0))
    # g1 = (1, 0), g2 = (1, 2): the min-norm point of the segment is g1 (since g1·(g2 − g1) ≥ 0)
    agg = MGDA().aggregate(T([1.0, 0.0], [1.0, 2.0]))
    assert torch.allclose(agg.weights, T(2.0, 0.0))
    # g1 = (2, 0), g2 = (0, 1): w1 = ||g2||² / ||g1 − g2||² = 1/5, min-norm point (0.4, 0.8)
    agg = MGDA().aggregate(T([2.0, 0.0], [0.0, 1.0]))
    assert torch.allclose(agg.direction / 2, T(0.4, 0.8))
    # opposite gradients: 0 is in the hull
    assert torch.allclose(MGDA().aggregate(T([1.0, 0.0], [-1.0, 0.0])).direction, T(0.0, 0.0))


def test_mgda_direction_decreases_every_loss():
    g = torch.randn(6, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    d = MGDA().aggregate(g).direction
    assert (g @ d > 0).all()
    # KKT: every g_i · d >= ||d||² / K (= the min-norm point's squared norm, scaled)
    assert ((g @ d) >= (d @ d) / 6 - 1e-9).all()


@pytest.mark.parametrize("k,d,seed", [(3, 2, 0), (5, 50, 1), (11, 8, 2), (40, 60, 3)])
def test_min_norm_matches_cvxpy(k, d, seed):
    g = np.random.default_rng(seed).normal(size=(k, d))
    w = min_norm_weights(g @ g.T)
    v = cp.Variable(k)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(g.T @ v)), [v >= 0, cp.sum(v) == 1])
    prob.solve(solver=cp.CLARABEL)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    assert w @ g @ g.T @ w == pytest.approx(prob.value, rel=1e-6, abs=1e-9)


# ---------------------------------------------------------------- PCGrad
def test_pcgrad_projects_conflicting_pair():
    g1, g2 = T(1.0, 0.0), T(-1.0, 1.0)  # g1·g2 = −1 < 0
    proj = PCGrad().project(torch.stack([g1, g2]))
    # g1 − (g1·g2/||g2||²) g2 = (1, 0) + ½ (−1, 1) = (½, ½); g2 − (g2·g1/||g1||²) g1 = (0, 1)
    assert torch.allclose(proj, T([0.5, 0.5], [0.0, 1.0]))
    assert (proj[0] @ g2).abs() < 1e-12 and (proj[1] @ g1).abs() < 1e-12
    assert torch.allclose(PCGrad().aggregate(torch.stack([g1, g2])).direction, T(0.5, 1.5))


def test_pcgrad_leaves_non_conflicting_gradients_alone():
    g = T([1.0, 0.5], [0.2, 1.0], [1.0, 1.0])
    assert torch.allclose(PCGrad().aggregate(g).direction, g.sum(0))


# ---------------------------------------------------------------- CAGrad
def test_cagrad_c0_is_the_mean():
    g = torch.randn(4, 9, dtype=torch.float64)
    assert torch.allclose(CAGrad(c=0.0).aggregate(g).direction, g.mean(0))


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_solves_its_primal(c):
    # CAGrad's d maximises min_i g_i·d over the ball ||d − g0|| <= c ||g0|| (Liu et al., 2021, Eq. 3)
    g = np.random.default_rng(7).normal(size=(3, 5))
    d = CAGrad(c=c).aggregate(torch.tensor(g)).direction.numpy()
    g0 = g.mean(0)
    x = cp.Variable(5)
    prob = cp.Problem(cp.Maximize(cp.min(g @ x)), [cp.norm(x - g0) <= c * np.linalg.norm(g0)])
    prob.solve(solver=cp.CLARABEL)
    assert np.linalg.norm(d - g0) <= c * np.linalg.norm(g0) * (1 + 1e-6)
    assert (g @ d).min() == pytest.approx(prob.value, rel=1e-4)
    assert np.allclose(CAGrad(c=c, rescale=True).aggregate(torch.tensor(g)).direction.numpy(), d / (1 + c * c))


# ---------------------------------------------------------------- IMTL-G
@pytest.mark.parametrize("k", [2, 3, 6])
def test_imtlg_equal_projections(k):
    g = torch.randn(k, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
    agg = IMTLG().aggregate(g)
    u = g / g.norm(dim=1, keepdim=True)
    proj = u @ agg.direction
    assert torch.allclose(proj, proj[0].expand(k), rtol=1e-9)
    assert agg.weights.sum().item() == pytest.approx(1.0)


def test_imtlg_hand_made_2d():
    # g1 = (2, 0), g2 = (0, 1): equal projections on (1,0) and (0,1) → d = (t, t); α1·2 = α2·1, α1 + α2 = 1
    assert torch.allclose(imtl_weights(T([2.0, 0.0], [0.0, 1.0])), T(1 / 3, 2 / 3))
    with pytest.raises(ValueError, match="zero gradient"):
        imtl_weights(T([1.0, 0.0], [0.0, 0.0]))


def test_imtlg_sees_the_gradients_only_through_their_gram_matrix():
    """IMTL-G is a Gram-based method: G and G·Q (Q orthogonal) have the same Gram matrix, hence the same α, and
    the weights from M = G Gᵀ equal those from G."""
    from mtlnotes.weighting import GramWeighting
    from mtlnotes.weighting.imtl import imtl_weights_from_gram
    g = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert isinstance(IMTLG(), GramWeighting)
    torch.testing.assert_close(imtl_weights_from_gram(g @ g.T), imtl_weights(g))
    torch.testing.assert_close(IMTLG().aggregate(g @ q).weights, IMTLG().aggregate(g).weights)


# ---------------------------------------------------------------- GradDrop
def test_graddrop_keeps_agreeing_signs():
    g = T([1.0, -2.0, 0.0], [3.0, -1.0, 0.0])
    assert torch.allclose(GradDrop(seed=1).aggregate(g).direction, g.sum(0))


def test_graddrop_keeps_positive_sign_with_probability_purity():
    d = 20000
    g = torch.stack([torch.full((d,), 3.0), torch.full((d,), -1.0)])
    gd = GradDrop(seed=0)
    assert torch.allclose(gd.purity(g), torch.full((d,), 0.75))  # ½ (1 + 2/4)
    out = gd.aggregate(g).direction
    assert set(out.unique().tolist()) <= {3.0, -1.0}
    assert (out == 3.0).float().mean().item() == pytest.approx(0.75, abs=0.015)
    assert torch.allclose(GradDrop(leak=1.0).aggregate(g).direction, g.sum(0))


# ---------------------------------------------------------------- registry and common interface
def test_every_method_by_name():
    g = torch.randn(3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    losses = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    for name in METHODS:
        m = make_method(name, 3, seed=0)
        assert m.name == name
        if m.uses_gradients:
            agg = m.aggregate(g, losses.detach())
            assert agg.direction.shape == (7,) and torch.isfinite(agg.direction).all()
        else:
            assert m.combine(losses).ndim == 0
    with pytest.raises(ValueError, match="unknown method"):
        make_method("Adam", 3)


@pytest.mark.parametrize("name", ["MGDA", "PCGrad", "CAGrad", "IMTL-G", "GradDrop", "Nash-MTL"])
def test_aggregators_reject_bad_gradients(name):
    m = make_method(name, 2)
    with pytest.raises(ValueError, match="task\\(s\\) \\[1\\]"):
        m.aggregate(T([1.0, 0.0], [float("inf"), 0.0]))
    with pytest.raises(ValueError, match="\\(K, d\\)"):
        m.aggregate(torch.zeros(3))

# float32 against float64 (and the other shared properties): tests/test_weighting_properties.py
