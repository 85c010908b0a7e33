"""The RL-AUX agent: PPO from Stable-Baselines3 (Raffin et al., 2021) with a feature extractor that mirrors the
main network (Goldfeder, So & Lipson, Appendix C.2), and the alternating training loop (Appendix B).

Appendix C.2: a feature extractor (the main network's trunk) maps the image to 256 features; the action and
value networks are single linear layers. To respect the label hierarchy (Eqs. 5–6) the extractor returns the
outer product of those features with the one-hot primary label, so a linear action layer gives per-primary-class
logits over the psi sub-classes: exactly the masked softmax over K = psi·C logits restricted to its support.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from mtlnotes.auxiliary.env import AuxTaskEnv
from mtlnotes.auxiliary.networks import make_trunk

__all__ = ["AuxAgentExtractor", "make_agent", "policy_probabilities", "deterministic_labels", "RLAuxTrainer"]


class AuxAgentExtractor(BaseFeaturesExtractor):
    """Appendix C.2's feature extractor: trunk (``arch`` as the main network) -> linear to ``features_dim`` -> ReLU,
    then the outer product with the one-hot primary label: output (B, features_dim · n_primary)."""

    def __init__(self, observation_space: spaces.Dict, arch: str = "small", features_dim: int = 256) -> None:
        image_space, primary_space = observation_space["image"], observation_space["primary"]
        n_primary = int(primary_space.n)
        super().__init__(observation_space, features_dim * n_primary)
        self.trunk, feats = make_trunk(arch, tuple(image_space.shape))
        self.proj = nn.Sequential(nn.Linear(feats, features_dim), nn.ReLU())
        self.n_primary = n_primary

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        z = self.proj(self.trunk(obs["image"]))  # (B, d)
        onehot = obs["primary"].reshape(z.shape[0], self.n_primary)  # SB3 one-hot encodes Discrete spaces
        return (onehot.unsqueeze(2) * z.unsqueeze(1)).flatten(1)  # (B, C*d)


def make_agent(env: AuxTaskEnv, arch: str = "small", features_dim: int = 256, learning_rate: float = 3e-4,
               ent_coef: float = 0.01, n_steps: int = 2048, batch_size: int = 64, n_epochs: int = 10,
               gamma: float = 0.99, seed: int = 0, device: str | torch.device = "cpu") -> PPO:
    """PPO (Schulman et al., 2017) with Appendix B's learning rate 3e-4 and entropy coefficient 0.01."""
    agent = PPO("MultiInputPolicy", env, learning_rate=learning_rate, ent_coef=ent_coef, n_steps=n_steps,
                batch_size=batch_size, n_epochs=n_epochs, gamma=gamma, seed=seed, device=device, verbose=0,
                policy_kwargs={"features_extractor_class": AuxAgentExtractor,
                               "features_extractor_kwargs": {"arch": arch, "features_dim": features_dim},
                               "net_arch": []})
    env.policy_probs = lambda x, y: policy_probabilities(agent, x, y)[0]
    return agent


@torch.no_grad()
def policy_probabilities(agent: PPO, images: torch.Tensor, primary: torch.Tensor,
                         batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The policy's sub-class probabilities (N, psi) and, for WA-RL, weight-bin probabilities (N, 21)."""
    policy = agent.policy
    was = policy.training
    policy.set_training_mode(False)
    subs, wts = [], []
    for s in range(0, len(images), batch):
        obs = {"image": images[s:s + batch].to(policy.device), "primary": primary[s:s + batch].to(policy.device)}
        dist = policy.get_distribution(obs).distribution
        if isinstance(dist, list):  # MultiDiscrete: [sub-class, weight bin]
            subs.append(dist[0].probs.cpu())
            wts.append(dist[1].probs.cpu())
        else:
            subs.append(dist.probs.cpu())
    policy.set_training_mode(was)
    return torch.cat(subs), (torch.cat(wts) if wts else None)


def policy_concentration(agent: PPO, images: torch.Tensor, primary: torch.Tensor) -> dict[str, float]:
    """How far the policy is from uniform on ``images``: the mean over images of the most probable sub-class's
    probability (uniform: 1/ψ) and, for WA-RL, of the most probable weight bin's (uniform: 1/21). A policy that
    has learned nothing image-specific stays at the uniform values."""
    sub, wts = policy_probabilities(agent, images, primary)
    out = {"policy_top_prob": float(sub.max(1).values.mean())}
    if wts is not None:
        out["weight_top_prob"] = float(wts.max(1).values.mean())
    return out


def deterministic_labels(agent: PPO) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]:
    """Train-main mode's labels: the most probable action per image (sub-class, and weight bin for WA-RL)."""
    def label(images: torch.Tensor, primary: torch.Tensor):
        sub, wts = policy_probabilities(agent, images, primary)
        return sub.argmax(1), (wts.argmax(1) if wts is not None else None)
    return label


class RLAuxTrainer:
    """Appendix B's alternation: one train-agent epoch (PPO learns while the main network trains, then the main
    network is reverted), then one train-main epoch with the agent's deterministic labels (kept as canonical)."""

    def __init__(self, env: AuxTaskEnv, agent: PPO) -> None:
        if len(env.labels) % agent.n_steps:
            raise ValueError(f"PPO's n_steps ({agent.n_steps}) must divide the epoch length ({len(env.labels)}) so "
                             "that each agent epoch is exactly one episode")
        self.env, self.agent = env, agent

    def agent_epoch(self) -> dict[str, float]:
        """Train-agent mode for one epoch; returns the mean reward and the time taken."""
        t0 = time.perf_counter()
        self.env.set_mode("agent")
        self.env.last_rewards = []
        self.agent.learn(total_timesteps=len(self.env.labels), reset_num_timesteps=True)
        rewards = self.env.last_rewards or [float("nan")]
        return {"mean_reward": float(sum(rewards) / len(rewards)), "seconds": time.perf_counter() - t0}

    def main_epoch(self) -> dict[str, float]:
        """Train-main mode for one epoch with deterministic labels; returns the mean loss and the time taken."""
        t0 = time.perf_counter()
        self.env.set_mode("main")
        loss = self.env.train_main_epoch(deterministic_labels(self.agent))
        return {"main_loss": loss, "seconds": time.perf_counter() - t0}
