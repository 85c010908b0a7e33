"""Multi-task training where a task selection policy picks the task of every step (Glover & Hokamp, 2019, §3).

At step t the policy gives π_t; task a_t ~ π_t is drawn; one minibatch of that task is trained on and its
loss L_k(x_t, θ_t) observed. Exp3.S is updated with the scaled prediction gain (§3.2.1, Eq. 6):
L_k(x_t, θ_t) − L_k(x_t, θ_{t+1}) on the same batch, both measured in eval mode, so that dropout (the BERT
profile) does not add its own noise to the difference; every step's Eq. 16 reward (the training loss observed)
is logged with π_t(a_t), so that any run can serve as the logging run for π^C.

The loop knows nothing about the data: ``batch_fn(task, index)`` returns (inputs, targets) for a tensor of
example indices, ``model(inputs, task)`` returns that task's output and ``loss_fn(task, output, targets)``
the mean negative log-likelihood (or another loss ≥ 0) of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mtlnotes.scheduling.counterfactual import TaskLog
from mtlnotes.scheduling.policies import Exp3SPolicy, TaskPolicy
from mtlnotes.scheduling.rewards import ProgressReward, RewardScaler, prediction_gain
from mtlnotes.training import progress

__all__ = ["TaskSampler", "PolicyTrainingResult", "train_with_policy"]


def _eval_loss(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], task: int, inputs, targets) -> float:
    """The batch loss in eval mode (no dropout, running BatchNorm statistics), without gradient; restores
    the model's mode."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return float(loss_fn(task, model(inputs, task), targets))
    finally:
        model.train(was)


class TaskSampler:
    """Epoch-wise shuffled minibatch indices for each task (a task's epoch restarts when it runs out)."""

    def __init__(self, sizes: Sequence[int], batch_size: int, generator: torch.Generator) -> None:
        if batch_size < 1 or any(s < 1 for s in sizes):
            raise ValueError(f"need batch_size >= 1 and positive task sizes, got {batch_size}, {list(sizes)}")
        self.sizes = list(sizes)
        self.batch_size = batch_size
        self.gen = generator
        self._order: list[torch.Tensor | None] = [None] * len(sizes)
        self._pos = [0] * len(sizes)

    def next(self, task: int) -> torch.Tensor:
        n, bs = self.sizes[task], min(self.batch_size, self.sizes[task])
        if self._order[task] is None or self._pos[task] + bs > n:
            self._order[task] = torch.randperm(n, generator=self.gen)
            self._pos[task] = 0
        idx = self._order[task][self._pos[task]:self._pos[task] + bs]
        self._pos[task] += bs
        return idx


@dataclass
class PolicyTrainingResult:
    """``log`` (TaskLog of every step), ``counts`` (N,) steps per task, ``evals``: list of (step, scores (N,))."""

    log: TaskLog
    counts: np.ndarray
    evals: list[tuple[int, list[float]]] = field(default_factory=list)


def train_with_policy(model: torch.nn.Module, optimizer: torch.optim.Optimizer, policy: TaskPolicy,
                      batch_fn: Callable[[int, torch.Tensor], tuple], loss_fn: Callable[..., torch.Tensor],
                      task_sizes: Sequence[int], steps: int, batch_size: int, seed: int,
                      evaluate: Callable[[], list[float]] | None = None, eval_every: int = 0,
                      reservoir: int = 1000, desc: str = "train") -> PolicyTrainingResult:
    """Train ``model`` for ``steps`` steps, one task per step chosen by ``policy`` (seeded by ``seed``).

    ``evaluate()`` (if given) returns one score per task; it runs every ``eval_every`` steps and at the end.
    """
    n = policy.n_tasks
    if len(task_sizes) != n:
        raise ValueError(f"{len(task_sizes)} task sizes for a policy over {n} tasks")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rng = np.random.default_rng(seed)
    sampler = TaskSampler(task_sizes, batch_size, torch.Generator().manual_seed(seed))
    scaler = RewardScaler(reservoir, seed=seed)
    progress_reward = ProgressReward(n)
    needs_gain = isinstance(policy, Exp3SPolicy)
    actions = np.empty(steps, dtype=np.int64)
    probs = np.empty(steps)
    rewards = np.empty(steps)
    evals: list[tuple[int, list[float]]] = []
    model.train()
    for t in progress(range(steps), desc=desc):
        p = policy.probabilities()
        k = min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), n - 1)
        inputs, targets = batch_fn(k, sampler.next(k))
        gain_before = _eval_loss(model, loss_fn, k, inputs, targets) if needs_gain else 0.0
        loss = loss_fn(k, model(inputs, k), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        before = float(loss.detach())
        if needs_gain:
            after = _eval_loss(model, loss_fn, k, inputs, targets)
            policy.update(k, scaler.scale(prediction_gain(gain_before, after)))
        actions[t], probs[t] = k, p[k]
        rewards[t] = progress_reward.reward(k, max(before, 0.0))
        if evaluate is not None and eval_every and (t + 1) % eval_every == 0 and t + 1 < steps:
            evals.append((t + 1, evaluate()))
            model.train()
    if evaluate is not None:
        evals.append((steps, evaluate()))
    return PolicyTrainingResult(TaskLog(actions, probs, rewards, n), np.bincount(actions, minlength=n), evals)
