"""Known-answer tests for mtlnotes.scheduling (Glover & Hokamp, 2019): estimators, policies, rewards, bandit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch

from mtlnotes.scheduling import (BanditSpec, Exp3SPolicy, FixedPolicy, MTLBandit, ProgressReward, RewardScaler,
                                 SoftmaxPolicy, TaskLog, TaskSizePolicy, UniformPolicy, concat_logs, entropy,
                                 fit_counterfactual_policy, importance_weights, is_estimate, prediction_gain,
                                 progress_reward, run_bandit, softmax, wis_estimate, wis_objective)

# ---------------------------------------------------------------- estimators (Eqs. 10-11)


def test_is_and_wis_on_a_hand_computed_log():
    b = [0.5, 0.25, 0.25]
    p = [0.2, 0.5, 0.3]
    r = [1.0, 2.0, 0.0]
    # weights 0.4, 2.0, 1.2; IS = (0.4 + 4 + 0) / 3; Z = 3.6 / 3; WIS = 4.4 / 3.6
    assert is_estimate(b, p, r) == pytest.approx(4.4 / 3)
    assert wis_estimate(b, p, r) == pytest.approx(4.4 / 3.6)
    np.testing.assert_allclose(importance_weights(b, p), [0.4, 2.0, 1.2])


def test_estimators_accept_tensors_and_equal_on_policy_mean():
    b = torch.tensor([0.2, 0.2, 0.6])
    r = torch.tensor([1.0, 3.0, 5.0])
    # target == logging policy: every weight is 1, both estimators are the plain mean (Eq. 8)
    assert is_estimate(b, b, r) == pytest.approx(3.0)
    assert wis_estimate(b, b, r) == pytest.approx(3.0)


def test_wis_is_invariant_to_scaling_target_probs_but_is_is_not():
    b, p, r = np.array([0.5, 0.5, 0.25]), np.array([0.1, 0.3, 0.2]), np.array([1.0, 0.0, 2.0])
    assert wis_estimate(b, 2 * p, r) == pytest.approx(wis_estimate(b, p, r))
    assert is_estimate(b, 2 * p, r) == pytest.approx(2 * is_estimate(b, p, r))


def test_estimator_errors():
    with pytest.raises(ValueError, match="behavior probability at step 1 is 0"):
        wis_estimate([0.5, 0.0], [0.5, 0.5], [1, 1])
    with pytest.raises(ValueError, match="2 entries but target_probs has 3"):
        is_estimate([0.5, 0.5], [0.2, 0.3, 0.5], [1, 1])
    with pytest.raises(ValueError, match="rewards has 1 entries"):
        wis_estimate([0.5, 0.5], [0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="empty"):
        wis_estimate([], [], [])
    with pytest.raises(ValueError, match="1-D"):
        is_estimate(np.ones((2, 2)) / 2, np.ones((2, 2)) / 2, np.ones((2, 2)))
    with pytest.raises(ValueError, match="all importance weights are zero"):
        wis_estimate([0.5, 0.5], [0.0, 0.0], [1, 1])


def test_is_is_unbiased_on_simulated_logs():
    """Uniform logging over 3 arms with Bernoulli rewards; the mean IS estimate must hit the target's true value.

    True V(π^C) = Σ_k π^C(k) m_k = 0.75; the on-policy mean reward of the logger is 0.533 and a wrongly
    inverted weight gives ≈ 0.45, both far outside the tolerance.
    """
    rng = np.random.default_rng(0)
    m = np.array([0.2, 0.5, 0.9])
    target = np.array([0.1, 0.2, 0.7])
    n_logs, T = 4000, 30
    a = rng.integers(0, 3, size=(n_logs, T))
    r = (rng.random((n_logs, T)) < m[a]).astype(float)
    b = np.full((n_logs, T), 1 / 3)
    est = np.array([is_estimate(b[i], target[a[i]], r[i]) for i in range(n_logs)])
    se = est.std() / math.sqrt(n_logs)
    assert abs(est.mean() - 0.75) < 4 * se < 0.02
    # WIS is biased for small T but consistent: one long log is close to the truth
    assert wis_estimate(b.ravel(), target[a.ravel()], r.ravel()) == pytest.approx(0.75, abs=0.01)


def test_entropy_known_values():
    assert entropy([0.25] * 4) == pytest.approx(math.log(4))
    assert entropy([1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="distribution"):
        entropy([0.5, 0.6])

# ---------------------------------------------------------------- policies (Eqs. 3, 4, 5, 12)


def test_fixed_policies():
    np.testing.assert_allclose(UniformPolicy(4).probabilities(), [0.25] * 4)
    np.testing.assert_allclose(TaskSizePolicy([1, 3]).probabilities(), [0.25, 0.75])
    np.testing.assert_allclose(SoftmaxPolicy([0.0, math.log(3)]).probabilities(), [0.25, 0.75])
    with pytest.raises(ValueError, match="positive"):
        TaskSizePolicy([0, 3])
    with pytest.raises(ValueError, match="task id 5 out of range for 4 tasks"):
        UniformPolicy(4).update(5, 1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        FixedPolicy([0.5, 0.6])


def test_sample_frequencies_match_probabilities():
    pol = FixedPolicy([0.1, 0.0, 0.6, 0.3])
    rng = np.random.default_rng(1)
    draws = np.array([pol.sample(rng) for _ in range(20000)])
    freq = np.bincount(draws, minlength=4) / draws.size
    assert freq[1] == 0
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.015)


def test_exp3s_one_step_by_hand():
    n, eta, eps = 3, 0.5, 0.1
    pol = Exp3SPolicy(n, eta=eta, eps=eps)
    np.testing.assert_allclose(pol.probabilities(), [1 / 3] * 3)
    pol.update(1, 0.6)
    # rho_1 = 1/3 each; r~ = (0, 0.6 / (1/3), 0) = (0, 1.8, 0); alpha_2 = 1/2
    e = np.exp(np.array([0.0, 0.5 * 1.8, 0.0]))
    omega = np.log([0.5 * e[0] + 0.5 / 2 * (e[1] + e[2]),
                    0.5 * e[1] + 0.5 / 2 * (e[0] + e[2]),
                    0.5 * e[2] + 0.5 / 2 * (e[0] + e[1])])
    np.testing.assert_allclose(pol.omega, omega, rtol=1e-12)
    rho = np.exp(omega) / np.exp(omega).sum()
    np.testing.assert_allclose(pol.probabilities(), (1 - eps) * rho + eps / n, rtol=1e-12)
    assert pol.probabilities()[1] > 1 / 3
    # second step uses alpha_3 = 1/3 and rho_2
    pol.update(0, -1.0)
    a = omega + eta * np.array([-1.0 / rho[0], 0, 0])
    ea = np.exp(a)
    expect = np.log((1 - 1 / 3) * ea + (1 / 3) / 2 * (ea.sum() - ea))
    np.testing.assert_allclose(pol.omega, expect, rtol=1e-12)


def test_exp3s_learns_the_better_arm_with_a_large_step_size():
    pol = Exp3SPolicy(2, eta=0.05, eps=0.05)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        k = pol.sample(rng)
        pol.update(k, 1.0 if k == 1 else -1.0)
    assert pol.probabilities()[1] > 0.8

# ---------------------------------------------------------------- rewards (Eqs. 6, 16)


def test_reward_scaler_hand_case():
    s = RewardScaler(capacity=100)
    for r in (1.0, 2.0, 3.0, 4.0):
        s.scale(r)
    # reservoir {1, 2, 2.5, 3, 4}: q20 = 1.8, q80 = 3.2 -> 2 (2.5 - 1.8) / 1.4 - 1 = 0
    assert s.scale(2.5) == pytest.approx(0.0)
    assert s.scale(100.0) == 1.0
    assert s.scale(-100.0) == -1.0
    q20, q80 = np.percentile(s.reservoir, [20, 80])
    x = (q20 + q80) / 2
    res = np.append(s.reservoir, x)
    q20, q80 = np.percentile(res, [20, 80])
    assert s.scale(x) == pytest.approx(2 * (x - q20) / (q80 - q20) - 1)


def test_reward_scaler_reservoir_is_bounded_and_representative():
    s = RewardScaler(capacity=200, seed=3)
    for r in range(10000):
        s.add(float(r))
    assert s.reservoir.size == 200 and s.seen == 10000
    assert 3500 < np.median(s.reservoir) < 6500  # a uniform sample of 0..9999, not the first 200


def test_progress_reward_eq16():
    pr = ProgressReward(2)
    assert pr.reward(0, 2.0) == 0.0            # first visit: nothing to compare with
    assert pr.reward(1, 1.0) == 0.0
    assert pr.reward(0, 1.5) == pytest.approx(1 - math.exp(-1.5))  # loss fell 2.0 -> 1.5
    assert pr.reward(0, 1.5) == 0.0            # no change -> 0
    assert pr.reward(0, 1.7) == 0.0            # rose -> 0
    assert pr.reward(1, 0.2) == pytest.approx(1 - math.exp(-0.2))
    with pytest.raises(ValueError, match="task id 2 out of range for 2 tasks"):
        pr.reward(2, 1.0)
    assert prediction_gain(2.0, 1.25) == 0.75

# ---------------------------------------------------------------- the MTL bandit (§4.1)


def test_bandit_dynamics_by_hand():
    spec = BanditSpec(oracle=np.array([0.5, 0.25, 0.25]), max_p=np.array([1.0, 0.6, 0.8]),
                      forget_frac=np.array([0.01, 0.0, 0.005]), horizon=4)
    np.testing.assert_allclose(spec.learn_inc, [0.5, 0.6, 0.8])      # MaxP / (T pi)
    np.testing.assert_allclose(spec.forget_inc, [0.005, 0.0, 0.004])
    b = MTLBandit(spec)
    assert b.step(0) == pytest.approx((0.0, 0.495))
    np.testing.assert_allclose(b.scores, [0.495, 0.0, 0.0])           # arm 2 clipped at 0
    assert b.step(1) == pytest.approx((0.0, 0.6))
    np.testing.assert_allclose(b.scores, [0.49, 0.6, 0.0])
    assert b.step(1) == pytest.approx((0.6, 0.6))                     # clipped at MaxP, no forgetting
    np.testing.assert_allclose(b.scores, [0.485, 0.6, 0.0])           # arm 0 forgets every step
    assert progress_reward(0.6, 0.6) == 0.0
    assert b.step(2) == pytest.approx((0.0, 0.796))
    np.testing.assert_allclose(b.scores, [0.48, 0.6, 0.796])
    assert b.average_score() == pytest.approx((0.48 + 0.6 + 0.796) / 3)
    assert progress_reward(0.0, 0.796) == 1.0
    assert progress_reward(0.49, 0.5) == pytest.approx(0.51)
    with pytest.raises(ValueError, match="arm 3 out of range for 3 arms"):
        b.step(3)


def test_bandit_spec_sampling_invariants():
    spec = BanditSpec.sample(8, 2.0, 1000, seed=5)
    np.testing.assert_allclose(spec.learn_inc * spec.horizon * spec.oracle, spec.max_p)
    assert np.all((spec.max_p >= 0.5) & (spec.max_p <= 1.0))
    ratio = spec.forget_inc / spec.learn_inc
    assert np.all((ratio >= 0) & (ratio <= 0.01))
    assert spec.oracle.sum() == pytest.approx(1.0)
    again = BanditSpec.sample(8, 2.0, 1000, seed=5)
    np.testing.assert_array_equal(spec.oracle, again.oracle)


def test_run_bandit_logs_and_determinism():
    spec = BanditSpec.sample(4, 2.0, 2000, seed=0)
    run = run_bandit(spec, FixedPolicy(spec.oracle), seed=3)
    freq = np.bincount(run.log.actions, minlength=4) / 2000
    np.testing.assert_allclose(freq, spec.oracle, atol=0.04)
    np.testing.assert_allclose(run.log.behavior_probs, spec.oracle[run.log.actions])
    again = run_bandit(spec, FixedPolicy(spec.oracle), seed=3)
    np.testing.assert_array_equal(run.avg_score, again.avg_score)
    # replaying the logged actions through the dynamics gives the same curve
    b = MTLBandit(spec)
    replay = []
    for k in run.log.actions:
        b.step(int(k))
        replay.append(b.average_score())
    np.testing.assert_allclose(run.avg_score, replay)
    ex = run_bandit(spec, Exp3SPolicy(4), seed=3)
    assert ex.log.behavior_probs.min() >= 0.05 / 4 - 1e-12


def test_oracle_beats_a_peaked_policy_on_the_bandit():
    spec = BanditSpec.sample(8, 2.0, 5000, seed=0)
    oracle = run_bandit(spec, FixedPolicy(spec.oracle), seed=1).avg_score[-1]
    peaked = run_bandit(spec, FixedPolicy(np.eye(8)[int(np.argmax(spec.oracle))] * 0.92 + 0.01), seed=1).avg_score[-1]
    assert oracle > peaked + 0.2

# ---------------------------------------------------------------- counterfactual policy (Eqs. 12-14)


def _toy_log(seed=0, T=3000):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, T)
    means = np.array([0.1, 0.3, 0.8])
    r = (rng.random(T) < means[a]).astype(float)
    return TaskLog(a, np.full(T, 1 / 3), r, 3)


def test_wis_objective_matches_per_step_estimator():
    log = _toy_log()
    omegas = np.array([[0.0, 0.0, 0.0], [1.0, -0.5, 2.0]])
    f = wis_objective(omegas, log, lam=0.3)
    for w, fv in zip(omegas, f):
        p = softmax(w)
        assert fv == pytest.approx(wis_estimate(log.behavior_probs, p[log.actions], log.rewards) + 0.3 * entropy(p))


def test_counterfactual_fit_against_scipy_optimum():
    log = _toy_log()
    lam = 0.2
    fit = fit_counterfactual_policy(log, lam, iterations=40, popsize=32, seed=0)
    opts = {"xatol": 1e-8, "fatol": 1e-10, "maxiter": 5000}
    runs = [scipy.optimize.minimize(lambda w: -wis_objective(w[None], log, lam)[0], x0, method="Nelder-Mead",
                                    options=opts)
            for x0 in (np.zeros(3), np.array([0, 0, 2.0]), np.array([1.0, 0, -1]))]
    best = min(runs, key=lambda res: res.fun)
    assert fit.objective == pytest.approx(-best.fun, abs=1e-4)
    np.testing.assert_allclose(fit.probs, softmax(best.x), atol=0.02)
    assert fit.probs.argmax() == 2
    assert fit.history == sorted(fit.history)


def test_counterfactual_fit_returns_the_better_of_best_sample_and_final_mean():
    log = _toy_log()
    for iterations in (1, 3, 20):
        fit = fit_counterfactual_policy(log, 0.2, iterations=iterations, popsize=8, seed=3)
        assert fit.objective == pytest.approx(float(wis_objective(fit.omega[None], log, 0.2)[0]), abs=1e-12)
        assert fit.objective == max(fit.history[-1], fit.mean_objective)  # never worse than anything evaluated
        assert np.isfinite(fit.mean_objective)
    # a case where CMA-ES's final mean beats every sample (3 generations of 8, seed 4): it is the one returned
    fit = fit_counterfactual_policy(log, 0.2, iterations=3, popsize=8, seed=4)
    assert fit.mean_objective > fit.history[-1] + 1e-3 and fit.objective == fit.mean_objective


def test_entropy_weight_controls_peakedness_and_fit_is_deterministic():
    log = _toy_log()
    greedy = fit_counterfactual_policy(log, 0.0, seed=1)
    flat = fit_counterfactual_policy(log, 50.0, seed=1)
    assert greedy.probs[2] > 0.9
    assert flat.entropy == pytest.approx(math.log(3), abs=1e-3)
    again = fit_counterfactual_policy(log, 0.0, seed=1)
    np.testing.assert_array_equal(greedy.omega, again.omega)
    with pytest.raises(ValueError, match="lambda"):
        fit_counterfactual_policy(log, -1.0)


def test_concat_logs_and_log_validation():
    a = TaskLog(np.array([0, 1]), np.array([0.5, 0.5]), np.array([1.0, 0.0]), 2)
    b = TaskLog(np.array([1]), np.array([0.9]), np.array([0.5]), 2)
    c = concat_logs([a, b])
    assert len(c) == 3
    A, B = c.per_task_sums()
    np.testing.assert_allclose(A, [2.0, 0.5 / 0.9])
    np.testing.assert_allclose(B, [2.0, 2.0 + 1 / 0.9])
    with pytest.raises(ValueError, match="task id 2 out of range for 2 tasks"):
        TaskLog(np.array([2]), np.array([0.5]), np.array([1.0]), 2)
    with pytest.raises(ValueError, match="behavior probability at step 0 is 0"):
        TaskLog(np.array([0]), np.array([0.0]), np.array([1.0]), 2)


def test_the_bandit_oracle_is_beatable_only_because_of_forgetting():
    """Why π^C can score above the oracle on our MTL bandit: the oracle fills every arm to its ceiling at T
    when nothing is forgotten, but forgetting (FI_k ∝ 1/pi_k) hits the rarely drawn arms hardest, so a policy
    tilted toward them (pi ∝ sqrt(oracle)) beats the oracle; without forgetting the oracle wins."""
    spec = BanditSpec.sample(8, 2.0, 10_000, seed=0)          # the chapter's bandit (bandit_env_seed 0)
    no_forgetting = BanditSpec(spec.oracle, spec.max_p, np.zeros(8), spec.horizon)
    tilted = np.sqrt(spec.oracle) / np.sqrt(spec.oracle).sum()
    for seed in (0, 1, 2):
        def final(s, p):
            return run_bandit(s, FixedPolicy(p), seed=seed).avg_score[-1]
        assert final(spec, tilted) > final(spec, spec.oracle) + 0.02
        assert final(no_forgetting, spec.oracle) > final(no_forgetting, tilted) + 0.02
    # total forgetting over T of arm k is forget_frac_k * MaxP_k / pi_k: largest for the rarest arm here
    total = spec.forget_frac * spec.max_p / spec.oracle
    assert int(np.argmax(total)) == int(np.argmin(spec.oracle))
