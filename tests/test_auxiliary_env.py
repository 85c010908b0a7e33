"""The RL-AUX environment's contract (gymnasium's checker, episodes, rewards, the two training modes) and the
PPO glue (Stable-Baselines3)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from mtlnotes.auxiliary import AuxNet
from mtlnotes.auxiliary.agent import AuxAgentExtractor, RLAuxTrainer, make_agent, policy_probabilities
from mtlnotes.auxiliary.env import AuxTaskEnv


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread (tests/conftest.py)


N, C, PSI = 30, 3, 2


def _env(weight_aware=False, n=N, seed=0, **kw):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 1, 28, 28, generator=gen), torch.randint(0, C, (n,), generator=gen)
    main = AuxNet("small", (1, 28, 28), C, C * PSI, hidden=16)
    return AuxTaskEnv(main, x, y, PSI, batch_size=10, eval_batch_size=16, weight_aware=weight_aware, seed=seed, **kw)


def _params(module):
    return [t.detach().clone() for t in module.state_dict().values()]


def _same(a, b):
    return all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("weight_aware", [False, True])
def test_gymnasium_env_checker(weight_aware):
    env = _env(weight_aware)
    check_env(env, skip_render_check=True)
    assert env.action_space.shape == ((2,) if weight_aware else ())
    if weight_aware:
        assert list(env.action_space.nvec) == [PSI, 21]


def test_episode_is_one_epoch_and_rewards_come_after_each_batch():
    env = _env()
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (1, 28, 28) and obs["image"].dtype == np.float32
    seen, rewards, infos = [int(env._order[0])], [], []
    for t in range(N):
        obs, r, terminated, truncated, info = env.step(t % PSI)
        rewards.append(r)
        infos.append(info)
        assert terminated == (t == N - 1) and not truncated
    assert sorted(env._order.tolist()) == list(range(N))  # every image once
    batch_ends = [t for t in range(N) if (t + 1) % 10 == 0]
    assert [t for t, i in enumerate(infos) if "main_loss" in i] == batch_ends
    assert all(rewards[t] == 0.0 for t in range(N) if t not in batch_ends)
    # Eq. 4: reward = -primary loss on the evaluation batch + entropy of the label distribution (Eq. 3)
    for t in batch_ends:
        assert rewards[t] == pytest.approx(-infos[t]["eval_primary_loss"] + infos[t]["label_entropy"])
        assert 0 <= infos[t]["label_entropy"] <= np.log(C * PSI) + 1e-6
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_bad_actions_and_modes_are_rejected():
    env = _env(weight_aware=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="sub-class 2 out of range for psi = 2"):
        env.step(np.array([2, 0]))
    with pytest.raises(ValueError, match="weight bin 21 out of range"):
        env.step(np.array([0, 21]))
    with pytest.raises(ValueError, match="mode must be"):
        env.set_mode("eval")


def test_train_agent_mode_restores_the_main_network():
    env = _env()
    env.reset(seed=0)
    start = _params(env.main)
    for t in range(N - 1):
        env.step(t % PSI)
        if t == 9:
            assert not _same(start, _params(env.main))  # it really trains during the epoch
    env.step(0)  # end of the episode
    assert _same(start, _params(env.main))
    env.reset(seed=5)
    assert _same(start, _params(env.main))


def test_train_main_mode_commits_and_fast_path_equals_stepping():
    a, b = _env(seed=3), _env(seed=3)
    a.set_mode("main")
    b.set_mode("main")
    start = _params(a.main)
    obs, _ = a.reset()
    rewards = []
    for _ in range(N):
        sub = int(obs["primary"]) % PSI  # a deterministic labelling rule
        obs, r, *_ = a.step(sub)
        rewards.append(r)
    assert rewards == [0.0] * N  # no reward computed in train-main mode
    after = _params(a.main)
    assert not _same(start, after)
    a.reset()
    assert _same(after, _params(a.main))  # the trained model is the new canonical one
    b.train_main_epoch(lambda x, y: (y % PSI, None))
    for u, v in zip(after, _params(b.main)):
        torch.testing.assert_close(u, v)


def test_env_bad_construction():
    main = AuxNet("small", (1, 28, 28), 3, 7, hidden=8)
    with pytest.raises(ValueError, match="expected psi\\*C = 6"):
        AuxTaskEnv(main, torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), 2)
    main = AuxNet("small", (1, 28, 28), 3, 6, hidden=8)
    with pytest.raises(ValueError, match="primary labels must lie in"):
        AuxTaskEnv(main, torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]), 2)


def test_extractor_outer_product_respects_the_hierarchy():
    env = _env()
    ext = AuxAgentExtractor(env.observation_space, arch="small", features_dim=8)
    x = torch.rand(4, 1, 28, 28)
    onehot = torch.nn.functional.one_hot(torch.tensor([0, 2, 1, 2]), C).float()
    f = ext({"image": x, "primary": onehot}).view(4, C, 8)
    for i, c in enumerate([0, 2, 1, 2]):
        assert (f[i, [k for k in range(C) if k != c]] == 0).all()


@pytest.mark.parametrize("weight_aware", [False, True])
def test_ppo_alternation_reverts_in_agent_epochs_and_trains_in_main_epochs(weight_aware):
    env = _env(weight_aware, n=20)
    agent = make_agent(env, "small", features_dim=8, n_steps=20, batch_size=10, n_epochs=1, seed=0)
    trainer = RLAuxTrainer(env, agent)
    start, policy0 = _params(env.main), copy.deepcopy(agent.policy.state_dict())
    out = trainer.agent_epoch()
    assert np.isfinite(out["mean_reward"]) and len(env.last_rewards) == 2
    assert _same(start, _params(env.main))  # reverted
    assert any(not torch.equal(v, policy0[k]) for k, v in agent.policy.state_dict().items())  # PPO learned
    trainer.main_epoch()
    assert not _same(start, _params(env.main))
    sub, w = policy_probabilities(agent, env.images[:5], env.labels[:5])
    assert sub.shape == (5, PSI) and torch.allclose(sub.sum(1), torch.ones(5))
    assert (w is not None) == weight_aware
    with pytest.raises(ValueError, match="must divide the epoch length"):
        RLAuxTrainer(env, make_agent(env, "small", features_dim=8, n_steps=7, batch_size=7, n_epochs=1))


def test_eq3_entropy_term_does_not_depend_on_the_actions_taken():
    """Eq. 3 as written (the batch-mean of the *policy's* probabilities on the evaluation batch) is the same
    whatever labels the rollout assigned: with the policy fixed during a rollout it is an action-independent
    term in the reward, so it adds nothing to PPO's policy gradient in expectation (a baseline shift). Only the
    fallback without ``policy_probs`` (the entropy of the labels just assigned) depends on the actions."""
    probs = torch.tensor([0.7, 0.3])
    rewards = {}
    for with_policy in (True, False):
        for sub in (torch.zeros(10, dtype=torch.long), torch.arange(10) % PSI):
            env = _env(seed=3)
            env.reset(seed=3)
            if with_policy:
                env.policy_probs = lambda x, y: probs.expand(len(y), PSI)
            rewards[with_policy, int(sub.sum())] = env.reward(torch.arange(10), sub)
    # same evaluation batch (same seed), same main network: identical rewards whatever the actions
    assert rewards[True, 0] == rewards[True, 5]
    # the assigned-label entropy does react to the actions (all sub-class 0 vs alternating)
    assert rewards[False, 0][2] < rewards[False, 5][2]
    assert rewards[False, 0][1] == rewards[False, 5][1]                     # the loss part is the same


def test_policy_concentration_is_uniform_for_a_flat_policy_and_rises_when_it_prefers_an_action():
    """1/ψ (and 1/21 for WA-RL's weight bins) when the action head gives every image equal logits; larger once
    the head prefers an action (the measure shown for RL-AUX's and WA-RL's policies)."""
    from mtlnotes.auxiliary.agent import policy_concentration
    from mtlnotes.auxiliary.weights import N_WEIGHT_BINS
    env = _env(weight_aware=True, n=20)
    agent = make_agent(env, "small", features_dim=8, n_steps=20, batch_size=10, n_epochs=1, seed=0)
    head = agent.policy.action_net
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    flat = policy_concentration(agent, env.images, env.labels)
    assert flat["policy_top_prob"] == pytest.approx(1 / PSI)
    assert flat["weight_top_prob"] == pytest.approx(1 / N_WEIGHT_BINS)
    with torch.no_grad():
        head.bias[0] = 2.0  # sub-class 0 preferred: p = e²/(e² + 1)
    sharp = policy_concentration(agent, env.images, env.labels)
    assert sharp["policy_top_prob"] == pytest.approx(np.exp(2) / (np.exp(2) + 1))
    assert sharp["weight_top_prob"] == pytest.approx(1 / N_WEIGHT_BINS)
