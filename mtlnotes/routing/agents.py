"""Router agents (Rosenbaum et al., 2018, §3.1.2, Figure 3, Tables 3–4).

A router maps each sample (v, t) at routing decision d to an action. Agents are assigned to samples by
task (one agent per task, Figure 3b), all to one agent (Figure 3a), or by a learned dispatcher (Figure 3c).

* :class:`WPLRouter` — tabular, one agent per task, Weighted Policy Learner (Algorithm 3).
* :class:`TabularQRouter` — tabular Q-learning (Watkins, 1989), ε-greedy.
* :class:`ReinforceRouter` — REINFORCE (Williams, 1992) with 2-layer MLPs (hidden 64), one per agent and
  decision, on ``concat(v, one_hot(t))``; ``n_agents=1`` gives the single-agent router.
* :class:`QMLPRouter` — Q-learning with the same MLP approximators, trained on the squared TD error.
* :class:`DispatchedRouter` — a REINFORCE dispatcher assigns each sample to one of the REINFORCE agents.
* :class:`StaticRouter` — fixed choices (task-specific baselines); nothing to learn.

Tabular policies use only (t, d); approximators use (v, t, d) (Tables 3–4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.models import MLP
from mtlnotes.routing.layers import grouped_apply
from mtlnotes.routing.wpl import DEFAULT_SCALING, SCALINGS, wpl_update

__all__ = ["Trace", "Router", "WPLRouter", "TabularQRouter", "ReinforceRouter", "QMLPRouter", "DispatchedRouter",
           "StaticRouter", "q_learning_update", "epsilon_greedy"]


@dataclass
class Trace:
    """What Algorithm 2 stores for a batch: task (B,), agent (B,), states (one detached (B, d_i) input per
    decision), actions (B, D), probs (one (B, A_d) policy per decision), and the dispatcher's choice if any."""

    task: torch.Tensor
    agent: torch.Tensor
    states: list[torch.Tensor] = field(default_factory=list)
    actions_list: list[torch.Tensor] = field(default_factory=list)
    probs: list[torch.Tensor] = field(default_factory=list)
    dispatch_state: torch.Tensor | None = None

    @property
    def actions(self) -> torch.Tensor:
        return torch.stack(self.actions_list, dim=1)


def epsilon_greedy(q: torch.Tensor, epsilon: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """ε-greedy probabilities from Q-values q (B, A): ε spread uniformly over valid actions, 1-ε over the
    maximisers (split evenly between ties). ``valid`` (A,) bool masks unavailable actions."""
    if valid is None:
        valid = torch.ones(q.shape[-1], dtype=torch.bool)
    qm = q.masked_fill(~valid, float("-inf"))
    best = (qm == qm.max(dim=-1, keepdim=True).values) & valid
    greedy = best.double() / best.sum(-1, keepdim=True)
    uniform = valid.double() / valid.sum()
    return epsilon * uniform + (1 - epsilon) * greedy


def q_learning_update(q: np.ndarray, actions: np.ndarray, immediate: np.ndarray, final: float, lr: float,
                      gamma: float = 1.0, valid: np.ndarray | None = None) -> np.ndarray:
    """Tabular Q-learning (Watkins, 1989) along one routing trace; returns the new table.

    q (D, A) one agent's Q-table (row d: decision d), actions (D,), immediate (D,) rewards, ``final`` the ±1
    reward after the last decision. In order d = 0..D-1: ``target = r_d + γ max_a Q[d+1, a]`` (over valid
    actions), and ``r_d + r_final`` at the last decision; ``Q[d, a_d] += lr (target - Q[d, a_d])``.
    """
    q = np.array(q, dtype=np.float64)
    depth = q.shape[0]
    valid = np.ones_like(q, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    for d in range(depth):
        a = int(actions[d])
        if d < depth - 1:
            target = immediate[d] + gamma * q[d + 1][valid[d + 1]].max()
        else:
            target = immediate[d] + final
        q[d, a] += lr * (target - q[d, a])
    return q


class Router(nn.Module):
    """Base router: ``assign`` picks the agent of each sample, ``probabilities`` gives the policy at a decision,
    ``act`` samples (or takes the arg-max when not exploring), ``update`` learns from a finished trace."""

    def __init__(self, n_actions: Sequence[int], n_tasks: int, n_agents: int) -> None:
        super().__init__()
        if n_tasks < 1 or n_agents < 1 or not n_actions or min(n_actions) < 1:
            raise ValueError(f"invalid router sizes: n_actions={list(n_actions)}, n_tasks={n_tasks}, "
                             f"n_agents={n_agents}")
        self.n_actions = list(n_actions)
        self.n_tasks = n_tasks
        self.n_agents = n_agents
        self.optimizer: torch.optim.Optimizer | None = None

    def _check_tasks(self, task: torch.Tensor) -> None:
        if task.numel() and (int(task.min()) < 0 or int(task.max()) >= self.n_tasks):
            bad = int(task.max()) if int(task.min()) >= 0 else int(task.min())
            raise ValueError(f"task id {bad} out of range for {self.n_tasks} tasks")

    def assign(self, v: torch.Tensor, task: torch.Tensor, trace: Trace, explore: bool,
               generator: torch.Generator | None) -> torch.Tensor:
        """Agent index of each sample (B,): the task by default (one agent per task)."""
        return task.clone()

    def start(self, v: torch.Tensor, task: torch.Tensor, explore: bool = True,
              generator: torch.Generator | None = None) -> Trace:
        self._check_tasks(task)
        trace = Trace(task=task, agent=task)
        trace.agent = self.assign(v, task, trace, explore, generator)
        return trace

    def probabilities(self, d: int, v: torch.Tensor, trace: Trace) -> torch.Tensor:
        raise NotImplementedError

    def act(self, d: int, v: torch.Tensor, trace: Trace, explore: bool = True,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """Choose the actions (B,) of decision ``d`` and record them in ``trace``."""
        v = v.detach()
        with torch.no_grad():
            probs = self.probabilities(d, v, trace).double()
        if explore:
            actions = torch.multinomial(probs, 1, generator=generator).flatten()
        else:
            actions = probs.argmax(dim=1)
        trace.states.append(v)
        trace.actions_list.append(actions)
        trace.probs.append(probs)
        return actions

    def update(self, trace: Trace, immediate: torch.Tensor, final: torch.Tensor, returns: torch.Tensor) -> None:
        """Learn from a trace: immediate (B, D) and final (B,) rewards, returns (B, D) (Algorithm 3, line 3)."""
        raise NotImplementedError


class _TabularRouter(Router):
    def __init__(self, n_actions: Sequence[int], n_tasks: int, lr: float, init: float) -> None:
        super().__init__(n_actions, n_tasks, n_tasks)
        if not 0.0 < lr <= 1.0:
            raise ValueError(f"router learning rate must lie in (0, 1], got {lr}")
        self.lr = lr
        depth, width = len(self.n_actions), max(self.n_actions)
        self.valid = np.zeros((depth, width), dtype=bool)
        for d, a in enumerate(self.n_actions):
            self.valid[d, :a] = True
        self.table = np.where(self.valid, init, 0.0)[None].repeat(n_tasks, axis=0)  # (agents, D, A)

    def table_row(self, d: int, agent: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.table[agent.numpy(), d, : self.n_actions[d]])


class WPLRouter(_TabularRouter):
    """One tabular WPL agent per task (MARL:WPL, *routing-all-fc*; Algorithm 3, Table 3).

    ``table`` (T, D, A) holds each agent's policy, uniform at the start; ``rhat`` (T, D) the average returns,
    zero at the start. Updates run sample by sample, in batch order, as Algorithm 2 loops over samples.
    ``record_every=k`` stores a copy of agent t's table after every k-th of its updates in ``history[t]``
    (for the policy-dynamics figures).
    """

    def __init__(self, n_actions: Sequence[int], n_tasks: int, lr: float = 0.01, scaling: str = DEFAULT_SCALING,
                 record_every: int | None = None) -> None:
        super().__init__(n_actions, n_tasks, lr, 0.0)
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
        self.scaling = scaling
        self.table = self.valid / self.valid.sum(1, keepdims=True)
        self.table = self.table[None].repeat(n_tasks, axis=0)
        self.rhat = np.zeros((n_tasks, len(self.n_actions)))
        self.updates = np.zeros(n_tasks, dtype=np.int64)
        self.record_every = record_every
        self.history: list[list[tuple[int, np.ndarray]]] = [[(0, self.table[t].copy())] for t in range(n_tasks)]

    def probabilities(self, d: int, v: torch.Tensor, trace: Trace) -> torch.Tensor:
        return self.table_row(d, trace.agent)

    def update(self, trace, immediate, final, returns) -> None:
        agents, actions, rets = trace.agent.numpy(), trace.actions.numpy(), returns.double().numpy()
        for b in range(len(agents)):
            t = agents[b]
            self.table[t], self.rhat[t] = wpl_update(self.table[t], self.rhat[t], actions[b], rets[b], self.lr,
                                                     self.scaling)
            self.updates[t] += 1
            if self.record_every and self.updates[t] % self.record_every == 0:
                self.history[t].append((int(self.updates[t]), self.table[t].copy()))


class TabularQRouter(_TabularRouter):
    """One tabular Q-learning agent per task (Table 3, "Q-Learning, tabular"); ε-greedy behaviour policy."""

    def __init__(self, n_actions: Sequence[int], n_tasks: int, lr: float = 0.1, epsilon: float = 0.1,
                 gamma: float = 1.0) -> None:
        super().__init__(n_actions, n_tasks, lr, 0.0)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.epsilon, self.gamma = epsilon, gamma

    def probabilities(self, d, v, trace):
        return epsilon_greedy(self.table_row(d, trace.agent), self.epsilon)

    def update(self, trace, immediate, final, returns) -> None:
        agents, actions = trace.agent.numpy(), trace.actions.numpy()
        imm, fin = immediate.double().numpy(), final.double().numpy()
        for b in range(len(agents)):
            t = agents[b]
            self.table[t] = q_learning_update(self.table[t], actions[b], imm[b], fin[b], self.lr, self.gamma,
                                              self.valid)


class _MLPRouter(Router):
    """Per-agent, per-decision 2-layer MLPs (hidden 64) on ``concat(v, one_hot(t))`` (Tables 3–4)."""

    def __init__(self, n_actions: Sequence[int], in_dims: Sequence[int], n_tasks: int, n_agents: int,
                 lr: float, hidden: int = 64) -> None:
        super().__init__(n_actions, n_tasks, n_agents)
        if len(in_dims) != len(self.n_actions):
            raise ValueError(f"need one input size per decision ({len(self.n_actions)}), got {list(in_dims)}")
        self.nets = nn.ModuleList(
            nn.ModuleList(MLP([in_dims[d] + n_tasks, hidden, self.n_actions[d]]) for _ in range(n_agents))
            for d in range(len(self.n_actions)))
        self.lr = lr
        self.optimizer = torch.optim.SGD(self.nets.parameters(), lr=lr)

    def encode(self, v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """encoding(s) = concat(v, one_hot(t)) (§4)."""
        return torch.cat([v, F.one_hot(task, self.n_tasks).to(v.dtype)], dim=1)

    def outputs(self, d: int, v: torch.Tensor, trace: Trace) -> torch.Tensor:
        return grouped_apply(list(self.nets[d]), trace.agent, self.encode(v, trace.task))


class ReinforceRouter(_MLPRouter):
    """REINFORCE (Williams, 1992) router with softmax MLP policies; ``n_agents = n_tasks`` (agent per task) or
    1 (single agent, Figure 3a). Loss ``-Σ_d log π(a_d|s_d) (R_d - b_d)``, with ``b_d`` a running mean of the
    returns at decision d (decay ``baseline_decay``) as variance-reducing baseline."""

    def __init__(self, n_actions, in_dims, n_tasks, n_agents=None, lr: float = 1e-2, hidden: int = 64,
                 baseline_decay: float = 0.99) -> None:
        super().__init__(n_actions, in_dims, n_tasks, n_tasks if n_agents is None else n_agents, lr, hidden)
        self.baseline = torch.zeros(len(self.n_actions))
        self.baseline_decay = baseline_decay

    def assign(self, v, task, trace, explore, generator):
        return task.clone() if self.n_agents == self.n_tasks else torch.zeros_like(task)

    def probabilities(self, d, v, trace):
        return torch.softmax(self.outputs(d, v, trace), dim=1)

    def policy_loss(self, trace: Trace, returns: torch.Tensor) -> torch.Tensor:
        loss = torch.zeros(())
        for d, (s, a) in enumerate(zip(trace.states, trace.actions_list)):
            logp = torch.log_softmax(self.outputs(d, s, trace), dim=1).gather(1, a[:, None]).squeeze(1)
            loss = loss - (logp * (returns[:, d] - self.baseline[d])).mean()
        return loss

    def update(self, trace, immediate, final, returns) -> None:
        loss = self.policy_loss(trace, returns.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * returns.float().mean(0)


class QMLPRouter(_MLPRouter):
    """Q-learning with MLP approximators (Table 3): minimises the squared TD error
    ``(Q(s_d, a_d) - r_d - γ max_a Q(s_{d+1}, a))²`` (target not differentiated; ``r_d + r_final`` at the end)."""

    def __init__(self, n_actions, in_dims, n_tasks, lr: float = 1e-2, hidden: int = 64, epsilon: float = 0.1,
                 gamma: float = 1.0) -> None:
        super().__init__(n_actions, in_dims, n_tasks, n_tasks, lr, hidden)
        self.epsilon, self.gamma = epsilon, gamma

    def probabilities(self, d, v, trace):
        return epsilon_greedy(self.outputs(d, v, trace), self.epsilon)

    def update(self, trace, immediate, final, returns) -> None:
        depth = len(trace.states)
        qs = [self.outputs(d, s, trace) for d, s in enumerate(trace.states)]
        loss = torch.zeros(())
        for d in range(depth):
            q_taken = qs[d].gather(1, trace.actions_list[d][:, None]).squeeze(1)
            if d < depth - 1:
                target = immediate[:, d] + self.gamma * qs[d + 1].detach().max(dim=1).values
            else:
                target = immediate[:, d] + final
            loss = loss + F.mse_loss(q_taken, target.float())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class DispatchedRouter(ReinforceRouter):
    """*routing-all-fc dispatched* (Figure 3c, Table 4): a dispatcher MLP on ``concat(v, one_hot(t))`` picks one
    of ``n_agents`` REINFORCE agents for each sample (``n_tasks + 1`` agents in all); the dispatcher is trained
    with REINFORCE on the return of the first decision."""

    def __init__(self, n_actions, in_dims, n_tasks, n_agents=None, lr: float = 1e-2, hidden: int = 64,
                 baseline_decay: float = 0.99) -> None:
        super().__init__(n_actions, in_dims, n_tasks, n_tasks if n_agents is None else n_agents, lr, hidden,
                         baseline_decay)
        self.dispatcher = MLP([in_dims[0] + n_tasks, hidden, self.n_agents])
        self.optimizer = torch.optim.SGD(list(self.nets.parameters()) + list(self.dispatcher.parameters()), lr=lr)

    def dispatch_probabilities(self, v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.dispatcher(self.encode(v, task)), dim=1)

    def assign(self, v, task, trace, explore, generator):
        v = v.detach()
        trace.dispatch_state = v
        with torch.no_grad():
            probs = self.dispatch_probabilities(v, task).double()
        if explore:
            return torch.multinomial(probs, 1, generator=generator).flatten()
        return probs.argmax(dim=1)

    def update(self, trace, immediate, final, returns) -> None:
        loss = self.policy_loss(trace, returns.float())
        logp = torch.log(self.dispatch_probabilities(trace.dispatch_state, trace.task)
                         .gather(1, trace.agent[:, None]).squeeze(1) + 1e-12)
        loss = loss - (logp * (returns[:, 0].float() - self.baseline[0])).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * returns.float().mean(0)


class StaticRouter(Router):
    """Fixed routing for the static baselines: at decision d each sample takes block ``t`` (its task) when
    ``choices[d] == "task"``, else block ``choices[d]``. *task-specific-all-fc*: ``["task"] * 3``;
    *task-specific-1-fc*: ``[0, 0, "task"]``."""

    def __init__(self, n_actions: Sequence[int], n_tasks: int, choices: Sequence[int | str]) -> None:
        super().__init__(n_actions, n_tasks, n_tasks)
        if len(choices) != len(self.n_actions):
            raise ValueError(f"need one choice per decision ({len(self.n_actions)}), got {list(choices)}")
        for d, c in enumerate(choices):
            if c == "task" and self.n_actions[d] < n_tasks:
                raise ValueError(f"decision {d} has {self.n_actions[d]} blocks, fewer than the {n_tasks} tasks")
            if c != "task" and not (isinstance(c, int) and 0 <= c < self.n_actions[d]):
                raise ValueError(f"choice {c!r} at decision {d} is neither 'task' nor a block index "
                                 f"< {self.n_actions[d]}")
        self.choices = list(choices)

    def probabilities(self, d, v, trace):
        idx = trace.task if self.choices[d] == "task" else torch.full_like(trace.task, self.choices[d])
        return F.one_hot(idx, self.n_actions[d]).double()

    def update(self, trace, immediate, final, returns) -> None:
        return None
