"""Properties every weighting method must have, checked over all of them (issue 16, item 7).

* permutation invariance: reordering the tasks reorders the weights and leaves the update alone;
* scaling: G → cG (c > 0) scales the update by c (Nash-MTL: leaves it alone, its α scales by 1/c) and leaves the
  weights of scale-invariant methods alone;
* non-conflicting directions where a method promises them (MGDA, Nash-MTL, PCGrad with two tasks): g_i · d ≥ 0;
* float32 against float64: the same update to float32 rounding, in the input's dtype;
* loss weightings: permutation equivariance of the weights and float32 against float64.
"""

import pytest
import torch

from mtlnotes.weighting import METHODS, GradientAggregator, make_method

AGGREGATORS = [n for n in METHODS if isinstance(make_method(n, 2), GradientAggregator)]
LOSS_WEIGHTINGS = [n for n in METHODS if n not in AGGREGATORS]
#: random task orders make PCGrad permutation-invariant only in distribution for K > 2
ORDER_FREE = [n for n in AGGREGATORS if n != "PCGrad"]
#: update degree in the scale of G (Nash-MTL without max-norm: α ∝ 1/||g|| cancels the scale)
DEGREE = {n: 0 if n == "Nash-MTL" else 1 for n in AGGREGATORS}
#: methods whose update never conflicts with a task gradient (MGDA: d is the hull's min-norm point; Nash-MTL:
#: g_i·d = 1/α_i > 0); PCGrad promises it for two tasks
NON_CONFLICTING = ["MGDA", "Nash-MTL"]


def _method(name, k):
    return make_method(name, k, seed=0, **({"max_norm": None} if name == "Nash-MTL" else {}))


def _grads(k=3, d=12, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(k, d, generator=gen, dtype=torch.float64)
    g[:, 0] += 2.0  # a shared component: conflicting pairs, yet 0 outside the hull (Nash-MTL has a solution)
    return g.to(dtype)


def test_the_lists_cover_every_method():
    assert set(AGGREGATORS) | set(LOSS_WEIGHTINGS) == set(METHODS) and len(AGGREGATORS) == 6


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ORDER_FREE)
def test_permutation_invariance(name, seed):
    g = _grads(seed=seed)
    perm = torch.tensor([2, 0, 1])
    a, b = _method(name, 3).aggregate(g), _method(name, 3).aggregate(g[perm])
    assert torch.allclose(a.direction, b.direction, rtol=1e-6, atol=1e-9)
    if a.weights is not None:
        assert torch.allclose(a.weights[perm], b.weights, rtol=1e-6, atol=1e-9)


def test_pcgrad_with_two_tasks_is_permutation_invariant():
    g = _grads(k=2)
    a, b = _method("PCGrad", 2).aggregate(g), _method("PCGrad", 2).aggregate(g.flip(0))
    assert torch.allclose(a.direction, b.direction, rtol=1e-12)


@pytest.mark.parametrize("c", [1e-3, 7.0, 2.0 ** 20])
@pytest.mark.parametrize("name", AGGREGATORS)
def test_scaling(name, c):
    g = _grads()
    a, b = _method(name, 3).aggregate(g), _method(name, 3).aggregate(c * g)
    assert torch.allclose(b.direction, c ** DEGREE[name] * a.direction, rtol=1e-7, atol=1e-12)
    if a.weights is not None:
        w_degree = -1 if name == "Nash-MTL" else 0
        assert torch.allclose(b.weights, c ** w_degree * a.weights, rtol=1e-7)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", NON_CONFLICTING)
def test_non_conflicting_direction(name, seed):
    g = _grads(k=4, seed=seed)
    d = _method(name, 4).aggregate(g).direction
    assert (g @ d >= -1e-10 * g.norm(dim=1) * d.norm()).all()


def test_pcgrad_two_tasks_non_conflicting():
    g = torch.tensor([[1.0, 0.2], [-0.8, 1.0]], dtype=torch.float64)  # conflicting: g_1·g_2 < 0
    d = _method("PCGrad", 2).aggregate(g).direction
    assert (g @ d >= 0).all()


def test_the_non_conflicting_check_can_fail():
    # the mean of two strongly conflicting gradients conflicts with the smaller one: the check above is not vacuous
    g = torch.tensor([[1.0, 0.0], [-0.5, 0.1]], dtype=torch.float64)
    d = g.mean(0)
    assert not (g @ d >= -1e-10 * g.norm(dim=1) * d.norm()).all()


@pytest.mark.parametrize("name", AGGREGATORS)
def test_float32_against_float64(name):
    g = _grads(k=4, d=30, seed=5)
    d64 = _method(name, 4).aggregate(g)
    d32 = _method(name, 4).aggregate(g.float())
    assert d64.direction.dtype == torch.float64 and d32.direction.dtype == torch.float32
    if name == "GradDrop":  # its uniform draws differ between dtypes; the kept-or-dropped mask is random
        return
    assert torch.allclose(d32.direction.double(), d64.direction, rtol=1e-4, atol=1e-5)
    if d64.weights is not None:
        assert d32.weights.dtype == torch.float32
        assert torch.allclose(d32.weights.double(), d64.weights, rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in LOSS_WEIGHTINGS if n != "RLW"])
def test_loss_weightings_permutation_and_dtype(name):
    losses = torch.tensor([0.5, 2.0, 1.25], dtype=torch.float64)
    perm = torch.tensor([2, 0, 1])
    w = _method(name, 3).weights(losses)
    assert torch.allclose(_method(name, 3).weights(losses[perm]).double(), w.double()[perm])
    assert torch.allclose(_method(name, 3).weights(losses.float()).double(), w.double(), rtol=1e-6)
