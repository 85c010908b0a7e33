"""Known-answer tests for mtlnotes.routing (Rosenbaum et al., 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mtlnotes.routing import (ARCHITECTURES, CollaborationReward, CrossStitchFC, ReinforceRouter, RoutedFC,
                              RoutingNetwork, SoftMixtureFC, StaticRouter, TabularQRouter, Trace, WPLRouter,
                              build_network, discounted_returns, epsilon_greedy, final_reward, grouped_apply,
                              predict_tasks, q_learning_update, simplex_projection, train_step, wpl_update)


# ---------------------------------------------------------------- projection, WPL, Q-learning by hand

def test_simplex_projection_is_the_papers_clip_and_normalise():
    out = simplex_projection(np.array([0.5, 1.2, -0.3]))
    np.testing.assert_allclose(out, [1 / 3, 2 / 3, 0.0])
    rows = simplex_projection(np.array([[0.2, 0.2], [2.0, 0.5]]))
    np.testing.assert_allclose(rows, [[0.5, 0.5], [2 / 3, 1 / 3]])
    np.testing.assert_allclose(simplex_projection(np.array([0.1, 0.6, 0.3])), [0.1, 0.6, 0.3])  # already valid


def test_simplex_projection_rejects_rows_without_mass():
    with pytest.raises(ValueError, match="no positive entry"):
        simplex_projection(np.array([[0.5, 0.5], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        simplex_projection(np.array([np.nan, 1.0]))


def test_wpl_update_abdallah_positive_gradient_by_hand():
    # R̂ = 0.9·0 + 0.1·1 = 0.1; Δ = 1 - 0.1 = 0.9; Δ > 0 → weight 1 - π(a) = 0.7 → 0.63;
    # π(a) = 0.3 + 0.1·0.63 = 0.363; normalise [0.5, 0.363, 0.2] by 1.063.
    pi, rhat = wpl_update(np.array([[0.5, 0.3, 0.2]]), np.zeros(1), np.array([1]), np.array([1.0]), 0.1,
                          "abdallah")
    np.testing.assert_allclose(rhat, [0.1])
    np.testing.assert_allclose(pi, [[0.5 / 1.063, 0.363 / 1.063, 0.2 / 1.063]])


def test_wpl_update_abdallah_negative_gradient_by_hand():
    # R̂ = -0.1; Δ = -0.9; Δ < 0 → weight π(a) = 0.3 → -0.27; π(a) = 0.3 - 0.027 = 0.273; normalise by 0.973.
    pi, rhat = wpl_update(np.array([[0.5, 0.3, 0.2]]), np.zeros(1), np.array([1]), np.array([-1.0]), 0.1,
                          "abdallah")
    np.testing.assert_allclose(rhat, [-0.1])
    np.testing.assert_allclose(pi, [[0.5 / 0.973, 0.273 / 0.973, 0.2 / 0.973]])


def test_wpl_update_algorithm3_as_printed_swaps_the_weights():
    # positive Δ = 0.9 weighted by π(a) = 0.3 → 0.27; π(a) = 0.327; normalise by 1.027.
    pi, _ = wpl_update(np.array([[0.5, 0.3, 0.2]]), np.zeros(1), np.array([1]), np.array([1.0]), 0.1, "algorithm3")
    np.testing.assert_allclose(pi, [[0.5 / 1.027, 0.327 / 1.027, 0.2 / 1.027]])
    # negative Δ = -0.9 weighted by 1 - π(a) = 0.7 → -0.63; π(a) = 0.237; normalise by 0.937.
    pi, _ = wpl_update(np.array([[0.5, 0.3, 0.2]]), np.zeros(1), np.array([1]), np.array([-1.0]), 0.1, "algorithm3")
    np.testing.assert_allclose(pi, [[0.5 / 0.937, 0.237 / 0.937, 0.2 / 0.937]])


def test_one_wpl_sign_convention_default_everywhere():
    """One default (Algorithm 3 as printed, the chapter's), stated once in mtlnotes.routing.wpl and used by the
    update, the router and the router settings (the chapter's Config: tests/test_routing_experiment.py)."""
    import inspect

    from mtlnotes.routing import DEFAULT_SCALING, RouterSettings
    assert DEFAULT_SCALING == "algorithm3"
    assert inspect.signature(wpl_update).parameters["scaling"].default == DEFAULT_SCALING
    assert inspect.signature(WPLRouter).parameters["scaling"].default == DEFAULT_SCALING
    assert WPLRouter([3], n_tasks=1).scaling == DEFAULT_SCALING
    assert RouterSettings().scaling == DEFAULT_SCALING
    # and the default update is the Algorithm 3 one (positive Δ weighted by π(a): 0.327 before normalising)
    pi, _ = wpl_update(np.array([[0.5, 0.3, 0.2]]), np.zeros(1), np.array([1]), np.array([1.0]), 0.1)
    np.testing.assert_allclose(pi, [[0.5 / 1.027, 0.327 / 1.027, 0.2 / 1.027]])


def test_wpl_update_rows_are_independent_per_depth_and_inputs_unchanged():
    pi0 = np.array([[0.5, 0.5], [0.25, 0.75]])
    rhat0 = np.array([0.0, 0.5])
    pi, rhat = wpl_update(pi0, rhat0, np.array([0, 1]), np.array([1.0, 0.5]), 0.5, "abdallah")
    np.testing.assert_allclose(rhat, [0.5, 0.5])
    # depth 1: R̂ stays 0.5, Δ = 0 → row unchanged
    np.testing.assert_allclose(pi[1], [0.25, 0.75])
    # depth 0: Δ = 0.5, weight 0.5 → π(0) = 0.5 + 0.5·0.25 = 0.625; normalise by 1.125
    np.testing.assert_allclose(pi[0], [0.625 / 1.125, 0.5 / 1.125])
    np.testing.assert_allclose(pi0, [[0.5, 0.5], [0.25, 0.75]])


def test_wpl_update_bad_input():
    with pytest.raises(ValueError, match="scaling"):
        wpl_update(np.ones((1, 2)) / 2, np.zeros(1), np.array([0]), np.array([1.0]), 0.1, "other")
    with pytest.raises(ValueError, match="out of range"):
        wpl_update(np.ones((1, 2)) / 2, np.zeros(1), np.array([2]), np.array([1.0]), 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        wpl_update(np.ones((1, 2)) / 2, np.zeros(1), np.array([0]), np.array([1.0]), 0.0)


def _matching_pennies(scaling: str, seed: int, steps: int = 20000, lr: float = 0.01):
    payoff = np.array([[1.0, -1.0], [-1.0, 1.0]])  # row player wins on a match, column player on a mismatch
    rng = np.random.default_rng(seed)
    p, q = np.array([[0.8, 0.2]]), np.array([[0.3, 0.7]])
    rp, rq = np.zeros(1), np.zeros(1)
    trail = []
    for _ in range(steps):
        a, b = rng.choice(2, p=p[0]), rng.choice(2, p=q[0])
        p, rp = wpl_update(p, rp, np.array([a]), np.array([payoff[a, b]]), lr, scaling)
        q, rq = wpl_update(q, rq, np.array([b]), np.array([-payoff[a, b]]), lr, scaling)
        trail.append((p[0, 0], q[0, 0]))
    return np.array(trail)


@pytest.mark.parametrize("seed", [0, 1])
def test_wpl_reaches_the_mixed_equilibrium_of_matching_pennies(seed):
    """Matching pennies has one Nash equilibrium, both players mixing 50/50 (Abdallah & Lesser, 2008)."""
    trail = _matching_pennies("abdallah", seed)
    last = trail[-5000:]
    assert np.all(np.abs(last.mean(0) - 0.5) < 0.03)
    assert np.all(np.abs(trail[-1] - 0.5) < 0.08)


def test_algorithm3_as_printed_does_not_reach_that_equilibrium():
    trail = _matching_pennies("algorithm3", 0)
    assert np.any(np.abs(trail[-1] - 0.5) > 0.4)  # it collapses to a pure, non-equilibrium profile


def test_q_learning_update_by_hand():
    q = np.array([[0.0, 0.0], [0.5, 2.0], [1.0, 0.0]])
    new = q_learning_update(q, np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]), -1.0, lr=0.5, gamma=0.9)
    # d0: target 0.1 + 0.9·2.0 = 1.9 → 0.95; d1: target 0.2 + 0.9·1.0 = 1.1 → 2 + 0.5(1.1 - 2) = 1.55;
    # d2: target 0.3 - 1 = -0.7 → 1 + 0.5(-1.7) = 0.15
    np.testing.assert_allclose(new, [[0.95, 0.0], [0.5, 1.55], [0.15, 0.0]])
    # invalid (padded) actions are ignored by the max
    valid = np.array([[True, True], [True, False], [True, True]])
    new = q_learning_update(q, np.array([0, 0, 0]), np.zeros(3), 0.0, lr=1.0, gamma=1.0, valid=valid)
    assert new[0, 0] == pytest.approx(0.5)


def test_epsilon_greedy_splits_ties_and_respects_masks():
    p = epsilon_greedy(torch.tensor([[1.0, 3.0, 3.0, 0.0]]), 0.2)
    np.testing.assert_allclose(p.numpy(), [[0.05, 0.45, 0.45, 0.05]])
    p = epsilon_greedy(torch.tensor([[1.0, 3.0, 5.0]]), 0.5, valid=torch.tensor([True, True, False]))
    np.testing.assert_allclose(p.numpy(), [[0.25, 0.75, 0.0]])


def test_discounted_returns_and_final_reward():
    r = discounted_returns(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([10.0]), gamma=0.5)
    np.testing.assert_allclose(r.numpy(), [[12.75, 13.5, 13.0]])
    fr = final_reward(torch.tensor([[2.0, 1.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    np.testing.assert_allclose(fr.numpy(), [1.0, -1.0])
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(torch.zeros(1, 2), torch.zeros(1), gamma=1.5)


def test_collaboration_reward_is_rho_times_average_historical_probability():
    c = CollaborationReward([2, 3], rho=0.3)
    np.testing.assert_allclose(c.rewards(torch.tensor([[0, 2]])).numpy(), [[0.15, 0.1]], rtol=1e-6)  # uniform prior
    c.observe([torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])])
    np.testing.assert_allclose(c.average(0).numpy(), [0.75, 0.25])
    np.testing.assert_allclose(c.rewards(torch.tensor([[0, 2], [1, 0]])).numpy(), [[0.225, 0.15], [0.075, 0.0]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="rho"):
        CollaborationReward([2], rho=2.0)


# ---------------------------------------------------------------- routed layers

def test_grouped_apply_matches_a_per_sample_loop_and_runs_each_chosen_block_once():
    torch.manual_seed(0)
    blocks = [nn.Linear(4, 3) for _ in range(5)]
    calls = [0] * 5

    def counted(k):
        def f(z):
            calls[k] += 1
            return blocks[k](z)
        return f

    x = torch.randn(32, 4)
    choice = torch.randint(0, 4, (32,))  # block 4 never chosen
    out = grouped_apply([counted(k) for k in range(5)], choice, x)
    ref = torch.stack([blocks[int(c)](x[i]) for i, c in enumerate(choice)])
    torch.testing.assert_close(out, ref)
    assert calls == [1, 1, 1, 1, 0]
    out.sum().backward()
    assert blocks[4].weight.grad is None and blocks[0].weight.grad is not None


def test_grouped_apply_bad_input():
    with pytest.raises(ValueError, match="out of range for 2 blocks"):
        grouped_apply([nn.Identity(), nn.Identity()], torch.tensor([0, 2]), torch.zeros(2, 3))


def test_routed_fc_layered_and_recursive_with_pass():
    fc = RoutedFC(6, 5, 2, n_blocks=3)
    assert fc.n_actions == [3, 3, 3]
    rec = RoutedFC(6, 5, 2, n_blocks=3, recursive=True)
    assert rec.n_actions == [3, 4, 4, 3]
    v = torch.randn(4, 6)
    h0 = rec.apply(0, torch.tensor([0, 1, 2, 0]), v)
    passed = rec.apply(1, torch.full((4,), 3), h0)  # PASS leaves the representation unchanged
    torch.testing.assert_close(passed, h0)
    # recursion reuses the same block: applying block 1 twice equals the pool's block 1 composed with itself
    twice = rec.apply(2, torch.ones(4, dtype=torch.long), rec.apply(1, torch.ones(4, dtype=torch.long), h0))
    torch.testing.assert_close(twice, rec.pools[1][1](rec.pools[1][1](h0)))


def test_static_task_specific_routing_equals_per_task_networks():
    torch.manual_seed(0)
    net = build_network("task-specific-all-fc", 3, (1, 28, 28), 2, hidden=8)
    x, task = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 2, 1, 0])
    net.eval()
    logits, trace = net(x, task, explore=False)
    assert torch.equal(trace.actions, task[:, None].repeat(1, 3))
    z = net.trunk(x)
    for i, t in enumerate(task.tolist()):
        ref = z[i]
        for layer in range(3):
            ref = net.fc.pools[layer][t](ref)
        torch.testing.assert_close(logits[i], ref)
    with pytest.raises(ValueError, match="task id 3 out of range for 3 tasks"):
        net(x, torch.tensor([0, 1, 2, 3, 1, 0]))


def test_cross_stitch_with_identity_units_is_independent_columns():
    torch.manual_seed(0)
    cs = CrossStitchFC(4, 5, 2, n_columns=3, same=1.0)
    torch.testing.assert_close(cs.stitch[0].data, torch.eye(3))
    v, task = torch.randn(7, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    out = cs(v, task)
    for i, t in enumerate(task.tolist()):
        h = torch.relu(v[i] @ cs.weights[0][t] + cs.biases[0][t, 0])
        h = torch.relu(h @ cs.weights[1][t] + cs.biases[1][t, 0])
        torch.testing.assert_close(out[i], h @ cs.weights[2][t] + cs.biases[2][t, 0])
    cs2 = CrossStitchFC(4, 5, 2, n_columns=3)
    np.testing.assert_allclose(cs2.stitch[0].data.numpy(), [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])


def test_soft_mixture_feeds_every_block_the_same_uniform_mixture_at_start():
    torch.manual_seed(0)
    sm = SoftMixtureFC(4, 5, 2, n_columns=3)
    v = torch.randn(2, 4)
    h0 = torch.relu(torch.einsum("bi,kio->kbo", v, sm.weights[0]) + sm.biases[0])
    mixed = sm.mix(1, h0)
    torch.testing.assert_close(mixed[0], h0.mean(0))
    torch.testing.assert_close(mixed[2], h0.mean(0))


def test_soft_routing_attention_is_a_per_task_softmax_over_the_blocks_that_sees_the_input():
    """Table 4's soft-routing-all-fc: weights sum to 1 over the layer's blocks, differ between tasks for the same
    input and between inputs of the same task; and a one-hot attention reduces the layer to that one block."""
    from mtlnotes.routing.soft import SoftRoutingFC
    torch.manual_seed(0)
    sr = SoftRoutingFC(4, 5, 2, n_blocks=3, n_tasks=2)
    v = torch.randn(2, 4)
    a = sr.attention(0, v.repeat(2, 1), torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(a.sum(1), torch.ones(4))
    assert not torch.allclose(a[0], a[2]) and not torch.allclose(a[0], a[1])
    sr(v, torch.tensor([0, 1])).sum().backward()  # the attention MLPs learn with the blocks
    assert all(float(w.grad.abs().sum()) > 0 for w in (*sr.w1, *sr.w2))
    sr.zero_grad()
    with torch.no_grad():
        for layer in range(3):  # attention fixed on block 1 at every depth, for every task
            sr.w2[layer].zero_()
            sr.b2[layer].zero_()
            sr.b2[layer][:, 0, 1] = 50.0
    expected = sr.pools[2][1](sr.pools[1][1](sr.pools[0][1](v)))
    torch.testing.assert_close(sr(v, torch.tensor([0, 1])), expected)
    sr(v, torch.tensor([0, 1])).sum().backward()
    assert sr.w1[0].grad is not None and sr.pools[0][1][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="out of range"):
        sr(v, torch.tensor([0, 2]))


# ---------------------------------------------------------------- routers on small known problems

def _bandit_trace(router, task, d_in=3):
    trace = router.start(torch.zeros(len(task), d_in), task)
    router.act(0, torch.zeros(len(task), d_in), trace)
    return trace


def test_wpl_router_learns_the_best_block_per_task():
    torch.manual_seed(0)
    router = WPLRouter([3], n_tasks=2, lr=0.05, record_every=10)
    best = torch.tensor([2, 0])  # task 0 is rewarded for block 2, task 1 for block 0
    for _ in range(300):
        task = torch.randint(0, 2, (16,))
        trace = _bandit_trace(router, task)
        final = (trace.actions[:, 0] == best[task]).float() * 2 - 1
        imm = torch.zeros(16, 1)
        router.update(trace, imm, final, discounted_returns(imm, final))
    assert router.table[0, 0, 2] > 0.9 and router.table[1, 0, 0] > 0.9
    np.testing.assert_allclose(router.table.sum(-1), 1.0)
    assert router.history[0][0][0] == 0 and len(router.history[0]) > 10


def test_tabular_q_router_learns_the_best_block_per_task():
    torch.manual_seed(0)
    router = TabularQRouter([3], n_tasks=2, lr=0.2, epsilon=0.2)
    best = torch.tensor([1, 2])
    for _ in range(200):
        task = torch.randint(0, 2, (16,))
        trace = _bandit_trace(router, task)
        final = (trace.actions[:, 0] == best[task]).float() * 2 - 1
        imm = torch.zeros(16, 1)
        router.update(trace, imm, final, discounted_returns(imm, final))
    assert router.table[0, 0].argmax() == 1 and router.table[1, 0].argmax() == 2


def test_reinforce_router_learns_a_task_dependent_choice():
    torch.manual_seed(0)
    router = ReinforceRouter([2], [3], n_tasks=2, lr=1.0)
    best = torch.tensor([0, 1])
    for _ in range(120):
        task = torch.randint(0, 2, (32,))
        trace = _bandit_trace(router, task)
        final = (trace.actions[:, 0] == best[task]).float() * 2 - 1
        imm = torch.zeros(32, 1)
        router.update(trace, imm, final, discounted_returns(imm, final))
    trace = router.start(torch.zeros(2, 3), torch.tensor([0, 1]))
    probs = router.probabilities(0, torch.zeros(2, 3), trace)
    assert probs[0, 0] > 0.8 and probs[1, 1] > 0.8


def test_static_router_validates_choices():
    with pytest.raises(ValueError, match="fewer than the 3 tasks"):
        StaticRouter([2, 3], 3, ["task", "task"])
    with pytest.raises(ValueError, match="neither"):
        StaticRouter([2, 3], 3, [5, "task"])


# ---------------------------------------------------------------- whole networks

def test_every_architecture_trains_a_step_and_predicts():
    torch.manual_seed(0)
    x, y, task = torch.rand(20, 1, 28, 28), torch.randint(0, 2, (20,)), torch.arange(20) % 4
    for name in ARCHITECTURES:
        net = build_network(name, 4, (1, 28, 28), 2, hidden=16)
        opt = torch.optim.SGD(net.block_parameters(), lr=0.01)
        collab = CollaborationReward(net.fc.n_actions, 0.3) if isinstance(net, RoutingNetwork) else None
        stats = train_step(net, opt, x, y, task, collab, generator=torch.Generator().manual_seed(0))
        assert np.isfinite(stats["loss"]) and 0.0 <= stats["accuracy"] <= 1.0
        logits, actions = predict_tasks(net, x, task)
        assert logits.shape == (20, 2)
        assert (actions is None) == (name in ("cross-stitch-all-fc", "soft-mixture-all-fc", "soft-routing-all-fc"))
    with pytest.raises(ValueError, match="unknown architecture"):
        build_network("routing-everything", 4, (1, 28, 28), 2)


def test_training_is_deterministic_given_seeds():
    def once():
        torch.manual_seed(0)
        net = build_network("routing-all-fc", 3, (1, 28, 28), 2, hidden=8)
        opt = torch.optim.SGD(net.block_parameters(), lr=0.05)
        gen = torch.Generator().manual_seed(1)
        collab = CollaborationReward(net.fc.n_actions, 0.3)
        x, y, task = torch.rand(12, 1, 28, 28), torch.randint(0, 2, (12,)), torch.arange(12) % 3
        for _ in range(3):
            train_step(net, opt, x, y, task, collab, generator=gen)
        return net.router.table.copy(), [p.detach().clone() for p in net.parameters()]
    (t1, p1), (t2, p2) = once(), once()
    np.testing.assert_array_equal(t1, t2)
    for a, b in zip(p1, p2):
        assert torch.equal(a, b)


def test_routing_updates_only_the_chosen_blocks():
    torch.manual_seed(0)
    net = build_network("routing-all-fc", 4, (1, 28, 28), 2, hidden=8)
    x, y, task = torch.rand(3, 1, 28, 28), torch.randint(0, 2, (3,)), torch.zeros(3, dtype=torch.long)
    logits, trace = net(x, task, generator=torch.Generator().manual_seed(0))
    torch.nn.functional.cross_entropy(logits, y).backward()
    chosen = set(trace.actions[:, 0].tolist())
    for k, block in enumerate(net.fc.pools[0]):
        assert (block[0].weight.grad is not None) == (k in chosen)
