"""Router rewards (Rosenbaum et al., 2018, §3.1.1): the final ±1 reward, the collaboration reward and returns."""

from __future__ import annotations

import torch

__all__ = ["final_reward", "discounted_returns", "CollaborationReward"]


def final_reward(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """+1 where the prediction ``argmax(logits)`` equals ``target``, −1 otherwise (§3.1.1).

    logits (B, C), target (B,) → (B,) float.
    """
    if logits.shape[0] != target.shape[0]:
        raise ValueError(f"{logits.shape[0]} predictions for {target.shape[0]} targets")
    return (logits.argmax(dim=1) == target).float() * 2.0 - 1.0


def discounted_returns(immediate: torch.Tensor, final: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Returns of Algorithm 3, line 3: ``R_i = r_final + sum_{j >= i} gamma^(j-i) r_j``.

    immediate (B, D) rewards of the D routing decisions, final (B,) → (B, D).
    """
    if immediate.ndim != 2 or final.shape != immediate.shape[:1]:
        raise ValueError(f"need immediate (B, D) and final (B,), got {tuple(immediate.shape)} and {tuple(final.shape)}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"discount gamma must lie in [0, 1], got {gamma}")
    out = torch.empty_like(immediate)
    acc = torch.zeros_like(final)
    for i in range(immediate.shape[1] - 1, -1, -1):
        acc = immediate[:, i] + gamma * acc
        out[:, i] = acc
    return out + final[:, None]


class CollaborationReward:
    """The collaboration reward of §3.1.1: ``rho`` × the average historical probability with which the router
    chose the block, per routing decision (averaged over all agents and all samples routed so far).

    Before any history exists the average is taken as uniform (1 / number of actions).
    """

    def __init__(self, n_actions: list[int], rho: float) -> None:
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"rho must lie in [0, 1] (§3.1.1), got {rho}")
        self.rho = float(rho)
        self.sums = [torch.zeros(a, dtype=torch.float64) for a in n_actions]
        self.count = 0

    def average(self, d: int) -> torch.Tensor:
        """Average historical probability of each action at decision ``d``: (A_d,)."""
        if self.count == 0:
            a = len(self.sums[d])
            return torch.full((a,), 1.0 / a, dtype=torch.float64)
        return self.sums[d] / self.count

    def rewards(self, actions: torch.Tensor) -> torch.Tensor:
        """Immediate rewards (B, D) for ``actions`` (B, D)."""
        cols = [self.rho * self.average(d)[actions[:, d]] for d in range(actions.shape[1])]
        return torch.stack(cols, dim=1).float()

    def observe(self, probs: list[torch.Tensor]) -> None:
        """Add a batch's policy probabilities (one (B, A_d) tensor per decision) to the history."""
        for d, p in enumerate(probs):
            self.sums[d] += p.detach().double().sum(0)
        self.count += int(probs[0].shape[0])
