"""The two-task closed forms (:mod:`mtlnotes.weighting.two_task`) are the aggregators' own rules: hand-computed
cases, and agreement with the classes on random, conflicting, aligned and nearly opposite gradient pairs."""

import numpy as np
import pytest
import torch

from mtlnotes.weighting import CAGrad, GradDrop, make_method
from mtlnotes.weighting import two_task as tt
from mtlnotes.weighting.cagrad import cagrad_dual_weights


def _pairs() -> np.ndarray:
    rng = np.random.default_rng(0)
    g = rng.normal(size=(400, 2, 3))
    g[:60, 1] = -0.5 * g[:60, 0] + 1e-3 * rng.normal(size=(60, 3))  # nearly opposite
    g[60:90, 1] = 2.0 * g[60:90, 0]                                  # aligned, collinear
    g[90:120] *= 1e-4                                                 # small
    g[120:150, 1] = -g[120:150, 0]                                    # exactly opposite
    return g


def _by_class(name: str, g: np.ndarray, **kwargs) -> np.ndarray:
    """Each pair's update from a fresh method object; NaN rows where it raises."""
    out = []
    for pair in g:
        try:
            out.append(make_method(name, 2, seed=0, **kwargs).aggregate(torch.from_numpy(pair)).direction.numpy())
        except ValueError:
            out.append(np.full(g.shape[2], np.nan))
    return np.array(out)


def _assert_close(ours: np.ndarray, theirs: np.ndarray, g: np.ndarray, rtol: float) -> None:
    """Equal within ``rtol`` times the larger gradient's largest entry (the scale of the pair's rounding)."""
    ok = ~np.isnan(theirs).any(axis=1) & ~np.isnan(ours).any(axis=1)
    assert ok.sum() > 200
    scale = np.abs(g[ok]).max(axis=(1, 2))[:, None]
    assert np.all(np.abs(ours[ok] - theirs[ok]) <= rtol * scale)


def test_hand_computed_cases():
    m = tt.gram2(np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [-1.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]]]))
    assert tt.mgda_weights2(m[:1]).tolist() == [[1.0, 1.0]]                  # orthogonal unit vectors: equal weights
    # PCGrad on g0 = (1, 0), g1 = (−1, 1): g0 → (½, ½), g1 → (0, 1); the update (½, 3/2) = 2 g0 + 3/2 g1
    assert tt.pcgrad_weights2(m[1:2]).tolist() == [[2.0, 1.5]]
    assert np.allclose(tt.imtl_weights2(m[2:]), [[1 / 3, 2 / 3]])            # the class's docstring example
    orth = tt.gram2(np.array([[[1.0, 0.0], [0.0, 2.0]]]))
    assert np.allclose(tt.nash_weights2(orth), [[1.0, 0.5]])                 # orthogonal: α_i = 1/||g_i||
    g = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    assert np.isnan(tt.cagrad_dual2(tt.gram2(g), 0.0)).all()                 # c = 0: no dual ...
    assert tt.cagrad_directions2(g, 0.0).tolist() == [[0.5, 0.5]]            # ... and the mean gradient


def test_no_solution_and_zero_gradients_come_back_as_nan_rows():
    g = np.array([[[1.0, 2.0], [-1.0, -2.0]], [[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]])
    m = tt.gram2(g)
    assert np.isnan(tt.nash_weights2(m)[:2]).all() and np.isfinite(tt.nash_weights2(m)[2]).all()
    assert np.isnan(tt.imtl_weights2(m)[1]).all() and np.isfinite(tt.imtl_weights2(m)[2]).all()


@pytest.mark.parametrize("name, kwargs, rule, rtol", [
    ("MGDA", {}, lambda g: tt.combine2(tt.mgda_weights2(tt.gram2(g)), g), 1e-10),
    ("PCGrad", {}, lambda g: tt.combine2(tt.pcgrad_weights2(tt.gram2(g)), g), 1e-10),
    ("IMTL-G", {}, lambda g: tt.combine2(tt.imtl_weights2(tt.gram2(g)), g), 1e-9),
    ("Nash-MTL", {"max_norm": None}, lambda g: tt.combine2(tt.nash_weights2(tt.gram2(g)), g), 1e-6),
])
def test_closed_forms_agree_with_the_classes(name, kwargs, rule, rtol):
    g = _pairs()
    ours, theirs = rule(g), _by_class(name, g, **kwargs)
    _assert_close(ours, theirs, g, rtol)
    if name == "Nash-MTL":  # the same pairs have no solution (0 in the hull) for both
        assert np.array_equal(np.isnan(ours).any(axis=1), np.isnan(theirs).any(axis=1))


@pytest.mark.parametrize("c", [0.4, 2.0])
def test_cagrad_closed_form_solves_the_dual_at_least_as_well_as_slsqp(c):
    # the class solves the dual with SLSQP (tolerance-limited); the closed form is the exact minimiser, so its
    # objective is never worse (up to rounding) and the updates agree to the solver's accuracy
    g = _pairs()
    m = tt.gram2(g)
    w = tt.cagrad_dual2(m, c)

    def objective(gram, weights):
        mh = gram / max(gram[0, 0], gram[1, 1])
        b = mh.mean(axis=1)
        return weights @ b + c * np.sqrt(b.mean()) * np.sqrt(weights @ mh @ weights)

    for k in range(0, len(g), 7):
        if np.isnan(w[k]).any():  # the mean gradient is zero: no dual problem
            continue
        assert objective(m[k], w[k]) <= objective(m[k], cagrad_dual_weights(m[k], c)) + 1e-12
    _assert_close(tt.cagrad_directions2(g, c), _by_class("CAGrad", g, c=c), g, 1e-4)


def test_cagrad_direction_is_the_mean_plus_the_scaled_dual_point():
    g = _pairs()[200:201]
    w = tt.cagrad_dual2(tt.gram2(g), 0.4)[0]
    gw, mean = w @ g[0], g[0].mean(axis=0)
    expected = mean + 0.4 * np.linalg.norm(mean) / np.linalg.norm(gw) * gw
    assert np.allclose(tt.cagrad_directions2(g, 0.4)[0], expected, rtol=1e-12)
    assert CAGrad(c=0.4).rescale is False  # the form above is the class's default (no 1/(1 + c²))


@pytest.mark.parametrize("leak", [0.0, 0.25])
def test_graddrop_matches_the_class_for_the_same_uniform_draws(leak):
    g = _pairs()[150:200]
    u = torch.rand(3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = tt.graddrop_directions2(g, u.numpy(), leak)
    theirs = np.array([GradDrop(seed=0, leak=leak).aggregate(torch.from_numpy(p)).direction.numpy() for p in g])
    assert np.allclose(ours, theirs, rtol=1e-12, atol=0)


def test_safe_rows_flags_squared_norms_outside_float64s_safe_range():
    g = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1e154, 0.0], [0.0, 1.0]], [[1e-160, 0.0], [0.0, 1e-160]],
                  [[0.0, 0.0], [0.0, 0.0]]])
    assert tt.safe_rows(tt.gram2(g)).tolist() == [True, False, False, True]


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"grads must be \(S, 2, d\)"):
        tt.gram2(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"gram must be \(S, 2, 2\)"):
        tt.mgda_weights2(np.ones((3, 3, 3)))
