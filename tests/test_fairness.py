"""Known-answer tests for mtlnotes.fairness (Zhang et al., ICANN 2021)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mtlnotes.fairness import (LoopPopulation, MLPPopulation, MOELSettings, TabularData, binary_tournament,
                               crowding_distance, generalized_entropy_index, group_unfairness, hypervolume,
                               individual_unfairness, mse, nondominated_mask, nondominated_ranks,
                               population_objectives, pure_diversity, run_moel, spacing, survival, wilcoxon_sign)


# ---------------------------------------------------------------- measures
def test_ge_index_hand_values():
    assert generalized_entropy_index([1.0, 1.0, 1.0]) == 0.0
    # mu = 1: ((0.25 + 2.25) / 2 - 1) / (2 * 1) = 0.125
    assert generalized_entropy_index([0.5, 1.5]) == pytest.approx(0.125)
    # alpha = 3: (0.125 + 3.375) / 2 - 1 = 0.75, / (3 * 2) = 0.125
    assert generalized_entropy_index([0.5, 1.5], alpha=3) == pytest.approx(0.125)


def test_within_group_only():
    # y = [1, 0, 0, 1], p = [.5, .5, 0, 1] -> b = [.5, 1.5, 1, 1]; group means both 1
    y, p, g = [1, 0, 0, 1], [0.5, 0.5, 0.0, 1.0], [0, 0, 1, 1]
    assert group_unfairness(p, y, g) == pytest.approx(0.0, abs=1e-15)
    assert individual_unfairness(p, y, g) == pytest.approx(0.5 * 0.125)


def test_between_group_only():
    # b = [.5, .5, 1.5, 1.5]: no inequality inside groups, all of GE between them
    y, p, g = [1, 1, 0, 0], [0.5] * 4, [0, 0, 1, 1]
    assert individual_unfairness(p, y, g) == pytest.approx(0.0, abs=1e-15)
    assert group_unfairness(p, y, g) == pytest.approx(0.125)


@pytest.mark.parametrize("alpha", [2, 3, 0.5])
def test_decomposition_identity(alpha):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = rng.random(200)
    g = rng.integers(0, 5, 200)
    total = generalized_entropy_index(p - y + 1, alpha)
    assert individual_unfairness(p, y, g, alpha) + group_unfairness(p, y, g, alpha) == pytest.approx(total, rel=1e-10)


def test_population_objectives_match_1d():
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.integers(0, 2, 50))
    g = torch.tensor(rng.integers(0, 3, 50))
    P = torch.tensor(rng.random((4, 50)))
    F = population_objectives(P, y, g)
    for i in range(4):
        assert F[i, 0].item() == pytest.approx(mse(P[i], y))
        assert F[i, 1].item() == pytest.approx(individual_unfairness(P[i], y, g))
        assert F[i, 2].item() == pytest.approx(group_unfairness(P[i], y, g))


def test_measure_errors():
    with pytest.raises(ValueError, match="alpha"):
        generalized_entropy_index([1, 2], alpha=1)
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        individual_unfairness([0.1, 0.2, 0.3], [0, 1], [0, 0])
    with pytest.raises(ValueError, match="integer ids"):
        group_unfairness([0.1, 0.2], [0, 1], [0.0, 1.0])
    with pytest.raises(ValueError, match="mean benefit"):
        generalized_entropy_index([0.0, 0.0])


# ---------------------------------------------------------------- indicators
def test_hypervolume_hand():
    assert hypervolume([[0.5, 0.5]], [1, 1]) == pytest.approx(0.25)
    assert hypervolume([[0, 0.5], [0.5, 0]], [1, 1]) == pytest.approx(0.75)
    assert hypervolume([[0.5, 0.5, 0.5]], [1, 1, 1]) == pytest.approx(0.125)
    assert hypervolume([[2.0, 0.0]], [1, 1]) == 0.0


@pytest.mark.parametrize("m,seed", list(itertools.product([2, 3], range(4))))
def test_hypervolume_matches_pymoo(m, seed):
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(seed)
    F = rng.random((40, m))
    ref = np.full(m, 1.1)
    assert hypervolume(F, ref) == pytest.approx(HV(ref_point=ref)(F), rel=1e-10)


def test_pure_diversity_hand():
    assert pure_diversity([[0.0], [1.0], [3.0]]) == pytest.approx(3.0)  # links 3-1 (2) and 0-1 (1)
    assert pure_diversity([[0.0, 0.0], [1.0, 1.0]]) == pytest.approx(2.0 ** 10)  # (1^0.1 + 1^0.1)^(1/0.1)
    assert pure_diversity([[0.3, 0.2]]) == 0.0
    # greedy linking by hand: 2.5->1.0 (1.5), then 1.0->0.4 (0.6), then 0->0.4 (0.4)
    assert pure_diversity([[0.0], [0.4], [1.0], [2.5]]) == pytest.approx(2.5)
    # triangle: the far apex links to its nearest point, then the close pair links: two links in all
    tri = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    d = lambda u, v: (np.abs(u - v) ** 0.1).sum() ** 10  # noqa: E731
    pair = sorted([d(tri[0], tri[1]), d(tri[0], tri[2]), d(tri[1], tri[2])])
    assert pure_diversity(tri) == pytest.approx(pair[0] + pair[2])


def test_spacing_hand():
    assert spacing([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]) == pytest.approx(0.0)
    assert spacing([[0.0], [1.0], [3.0]]) == pytest.approx(np.sqrt(1 / 3))


def test_nondominated_mask_in_blocks_equals_the_all_pairs_definition():
    rng = np.random.default_rng(0)
    F = np.round(rng.random((3000, 3)), 2)  # many ties and duplicates
    F[:, 2] = 1.5 - F[:, 0] - F[:, 1] + 0.05 * rng.random(3000)  # a real front, not one point
    le = (F[:, None, :] <= F[None, :, :]).all(-1)
    lt = (F[:, None, :] < F[None, :, :]).any(-1)
    expected = ~(le & lt).any(0)
    assert expected.sum() > 20
    np.testing.assert_array_equal(nondominated_mask(F, block=97), expected)
    np.testing.assert_array_equal(nondominated_mask(F), expected)


def test_wilcoxon_sign_is_inconclusive_when_the_sizes_cannot_reach_the_level():
    from mtlnotes.fairness.indicators import smallest_ranksum_pvalue

    assert smallest_ranksum_pvalue(2, 2) > 0.05 and smallest_ranksum_pvalue(4, 4) < 0.05
    # 2 against 2 trials, completely separated: still no evidence either way
    assert wilcoxon_sign([10.0, 11.0], [1.0, 2.0], higher_is_better=True) == "?"


def test_wilcoxon_sign():
    a, b = np.arange(10.0) + 100, np.arange(10.0)
    assert wilcoxon_sign(a, b, higher_is_better=True) == "+"
    assert wilcoxon_sign(a, b, higher_is_better=False) == "-"
    assert wilcoxon_sign(b, b, higher_is_better=True) == "≈"
    with pytest.raises(ValueError):
        wilcoxon_sign([1.0], [2.0], True)


# ---------------------------------------------------------------- NSGA-II
def test_ranks_match_brute_force():
    rng = np.random.default_rng(3)
    F = rng.random((30, 3))
    rank = nondominated_ranks(F)
    remaining = np.arange(30)
    r = 0
    while len(remaining):
        front = remaining[nondominated_mask(F[remaining])]
        assert (rank[front] == r).all()
        remaining = np.setdiff1d(remaining, front)
        r += 1


def test_crowding_hand_and_survival():
    F = np.array([[0.0, 1.0], [0.25, 0.5], [0.5, 0.45], [1.0, 0.0]])
    cd = crowding_distance(F)
    assert np.isinf(cd[0]) and np.isinf(cd[3])
    assert cd[1] == pytest.approx(0.5 / 1 + 0.55 / 1)
    assert cd[2] == pytest.approx(0.75 + 0.5)
    G = np.vstack([F, F + 2])  # a dominated copy
    assert set(survival(G, 4)) == {0, 1, 2, 3}
    assert set(survival(G, 3)) == {0, 3, 2}  # boundary points, then the larger crowding
    assert list(survival(np.array([[3.0], [1.0], [2.0]]), 2)) == [1, 2]
    with pytest.raises(ValueError):
        survival(G, 9)


def test_tournament_prefers_lower_rank():
    gen = torch.Generator().manual_seed(0)
    picks = binary_tournament(np.array([0, 1]), np.zeros(2), 200, gen)
    # index 1 wins only when both draws are 1 (prob 1/4)
    assert 0.15 < (picks == 1).mean() < 0.35


# ---------------------------------------------------------------- population and framework
def _toy(n=120, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(n, generator=g) > 0).float()
    groups = (x[:, 1] > 0).long()
    return TabularData(x, y, groups)


def test_batched_population_equals_loop():
    data = _toy()
    pop = MLPPopulation.glorot(4, 5, 8, torch.Generator().manual_seed(1))
    loop = LoopPopulation(pop.to_modules())
    torch.testing.assert_close(pop.predict_proba(data.x), loop.predict_proba(data.x))
    pop.partial_train(data.x, data.y, 0.01, 32, 2, torch.Generator().manual_seed(5))
    loop.partial_train(data.x, data.y, 0.01, 32, 2, torch.Generator().manual_seed(5))
    torch.testing.assert_close(pop.predict_proba(data.x), loop.predict_proba(data.x), rtol=1e-4, atol=1e-5)


def test_glorot_bounds_and_errors():
    pop = MLPPopulation.glorot(3, 10, 6, torch.Generator().manual_seed(0))
    assert pop.params["W1"].abs().max() <= np.sqrt(6 / 16)
    assert (pop.params["b1"] == 0).all()
    with pytest.raises(ValueError):
        MLPPopulation.glorot(0, 10, 6, torch.Generator())
    with pytest.raises(ValueError, match="mutation"):
        pop.mutated(-1.0, torch.Generator())


def test_run_moel_deterministic_and_improves():
    data = _toy()
    s = MOELSettings(n_hidden=8, lr=0.01, pop_size=6, generations=6, batch_size=32, record_every=3)
    a = run_moel("F_EIG", s, data, data, data, seed=3)
    b = run_moel("F_EIG", s, data, data, data, seed=3)
    np.testing.assert_array_equal(a["final_test"], b["final_test"])
    assert a["generations"] == [0, 3, 6]
    assert np.asarray(a["final_val"]).shape == (6, 3)
    # elitist survival on MSE: the best validation MSE never gets worse
    best = [np.asarray(F)[:, 0].min() for F in a["val"]]
    assert all(x >= y - 1e-12 for x, y in zip(best, best[1:]))
    with pytest.raises(ValueError, match="unknown variant"):
        run_moel("F_X", s, data, data, data, seed=0)


def test_run_moel_resumes_from_state():
    data = _toy()
    s = MOELSettings(n_hidden=8, lr=0.01, pop_size=6, generations=6, batch_size=32, record_every=3)
    states = []
    full = run_moel("F_EI", s, data, data, data, seed=1, on_state=states.append, state_every=2)
    resumed = run_moel("F_EI", s, data, data, data, seed=1, state=states[0])
    np.testing.assert_array_equal(full["final_test"], resumed["final_test"])


@pytest.mark.parametrize("bad,message", [([1.0, 2.0], "expected an \\(N, M\\) objective matrix"),
                                         (np.zeros((0, 3)), "need at least 1 points, got 0"),
                                         ([[0.0, np.nan]], "NaN or inf")])
def test_one_objective_validator_serves_the_indicators_and_nsga2(bad, message):
    """Indicators and NSGA-II reject the same bad objective matrices with the same one-line errors."""
    from mtlnotes.fairness.indicators import check_objectives
    from mtlnotes.fairness.nsga2 import nondominated_ranks
    for fn in (lambda F: check_objectives(F, min_rows=1), nondominated_ranks):
        with pytest.raises(ValueError, match=message):
            fn(bad)
