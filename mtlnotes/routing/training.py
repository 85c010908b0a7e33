"""Training routed networks and their baselines by Algorithm 2 (Rosenbaum, Klinger & Riemer, ICLR 2018, §4).

* :func:`train_architecture` — one architecture of :data:`~mtlnotes.routing.builders.ARCHITECTURES` trained for
  the configured epochs (SGD on the blocks, the router on its traces), evaluated after every epoch (Table 2,
  Figures 4, 5, 8), with the greedy routing map (Figure 11) and the WPL policies over time (Figures 9, 10);
  resumable from a :class:`~mtlnotes.checkpoint.CheckpointStore` after each epoch.
* :func:`thin_snapshots` — an even subset of the recorded WPL policies.
* :func:`step_cost` — the cost of a training step as the number of tasks grows (Figures 13, 15).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import TaskData
from mtlnotes.fit import fit
from mtlnotes.repro import seed_everything, torch_generator
from mtlnotes.routing.agents import WPLRouter
from mtlnotes.routing.builders import RouterSettings, build_network
from mtlnotes.routing.data import class_count
from mtlnotes.routing.network import RoutingNetwork, place, predict_tasks, train_step
from mtlnotes.routing.rewards import CollaborationReward
from mtlnotes.training import minibatches

__all__ = ["TrainingConfig", "train_architecture", "MAX_POLICY_SNAPSHOTS", "thin_snapshots", "step_cost"]


class TrainingConfig(Protocol):
    """The fields :func:`train_architecture` reads (the routing chapter's ``Config`` has them all, with where the
    paper states each)."""

    @property
    def hidden(self) -> int: ...  # units of each fully connected layer
    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def optimizer(self) -> str: ...  # "sgd" or "adam", for the blocks
    @property
    def lr(self) -> float: ...
    @property
    def lr_step_epochs(self) -> int: ...  # the learning rate is divided by 10 every this many epochs
    @property
    def rho(self) -> float: ...  # collaboration reward ρ
    @property
    def wpl_lr(self) -> float: ...
    @property
    def q_lr(self) -> float: ...
    @property
    def mlp_lr(self) -> float: ...
    @property
    def epsilon(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    @property
    def wpl_scaling(self) -> str: ...
    @property
    def record_every(self) -> int: ...
    @property
    def time_budget_s(self) -> float | None: ...
    # optional: ``channels_last`` (bool) — train the conv trunk in channels-last memory layout (speed only)


def _settings(config: TrainingConfig, record: bool) -> RouterSettings:
    return RouterSettings(wpl_lr=config.wpl_lr, q_lr=config.q_lr, mlp_lr=config.mlp_lr, epsilon=config.epsilon,
                          gamma=config.gamma, scaling=config.wpl_scaling,
                          record_every=config.record_every if record else None)


def _router_state(net) -> dict:
    r = getattr(net, "router", None)
    out = {}
    for key in ("table", "rhat", "updates", "history"):
        if r is not None and hasattr(r, key):
            out[key] = getattr(r, key)
    if r is not None and getattr(r, "optimizer", None) is not None:
        out["optimizer"] = r.optimizer.state_dict()
    if r is not None and hasattr(r, "baseline"):
        out["baseline"] = r.baseline
    return out


def _load_router_state(net, state: dict) -> None:
    r = getattr(net, "router", None)
    for key, value in state.items():
        if key == "optimizer":
            r.optimizer.load_state_dict(value)
        else:
            setattr(r, key, value)


def train_architecture(name: str, train: TaskData, test: TaskData, config: TrainingConfig, seed: int,
                       device: torch.device | str = "cpu", store: CheckpointStore | None = None,
                       record: bool = False, key: str | None = None) -> dict:
    """Train architecture ``name`` by Algorithm 2 (SGD on the blocks, the router on its traces) for
    ``config.epochs`` epochs (or until ``config.time_budget_s``); evaluate on ``test`` after every epoch.

    Returns plain data: mean and per-task test accuracy per epoch, epochs run, training seconds, and for
    routed networks the greedy routing map (T, D, A) counts on the test set; with ``record`` the WPL policy
    snapshots of every agent. ``key`` names the unit's resumable state in ``store`` (default
    ``"{name}-seed{seed}"``; runs of one architecture with other settings need their own).
    """
    seed_everything(seed)
    n_tasks, in_shape = train.n_tasks, tuple(train.x.shape[1:])
    net = build_network(name, n_tasks, in_shape, class_count(train), config.hidden, _settings(config, record))
    net = place(net, device)   # the router stays on the CPU (see place)
    # Channels-last convolutions are 1.5–2× faster on x86 CPUs (oneDNN) for this trunk, measured per training
    # step; the model and its numbers are the same up to float rounding. Inputs follow the weights' layout.
    layout = torch.channels_last if getattr(config, "channels_last", False) else torch.contiguous_format
    if layout is torch.channels_last:
        net = net.to(memory_format=layout)
    if config.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")
    opt_cls = torch.optim.SGD if config.optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(net.block_parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step_epochs, gamma=0.1)
    collab = CollaborationReward(net.fc.n_actions, config.rho) if isinstance(net, RoutingNetwork) else None
    gen = torch_generator(seed)
    curve: list[float] = []
    per_task: list[list[float]] = []

    def step(idx: torch.Tensor) -> None:
        x = train.x[idx].to(device).contiguous(memory_format=layout)
        train_step(net, opt, x, train.y[idx].to(device), train.task[idx].to(device), collab, config.gamma, gen)

    def evaluate() -> float:  # recorded every epoch (Figures 4–8); no model selection
        logits, _ = predict_tasks(net, test.x, test.task, device=device)
        correct = (logits.argmax(1) == test.y).float()
        curve.append(float(correct.mean()))
        per_task.append([float(correct[test.task == t].mean()) for t in range(n_tasks)])
        return curve[-1]

    def get_state() -> dict:
        return {"router": _router_state(net), "collab": None if collab is None else (collab.sums, collab.count),
                "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "curve": curve, "per_task": per_task}

    def set_state(saved: dict) -> None:
        _load_router_state(net, saved["router"])
        if collab is not None:
            collab.sums, collab.count = saved["collab"]
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["torch_rng"])
        curve[:], per_task[:] = saved["curve"], saved["per_task"]

    budget = config.time_budget_s
    result = fit(net, opt, step, lambda epoch: minibatches(len(train), config.batch_size, gen), config.epochs,
                 evaluate=evaluate, scheduler=sched, checkpoint=store, key=key or f"{name}-seed{seed}",
                 restore_best=False,
                 desc=name, extra_state=(get_state, set_state),
                 stop=None if budget is None else lambda r: r.train_seconds >= budget)
    seconds = result.train_seconds
    out = {"architecture": name, "seed": seed, "test_accuracy": curve, "per_task_accuracy": per_task,
           "epochs_run": len(curve), "train_seconds": seconds}
    if isinstance(net, RoutingNetwork):
        _, actions = predict_tasks(net, test.x, test.task, device=device)
        counts = np.zeros((n_tasks, actions.shape[1], max(net.fc.n_actions)), dtype=np.int64)
        for t in range(n_tasks):
            a = actions[test.task == t]
            for d in range(actions.shape[1]):
                counts[t, d] = np.bincount(a[:, d].numpy(), minlength=counts.shape[2])
        out["routing_map"] = counts
    if record and isinstance(getattr(net, "router", None), WPLRouter):
        out["policy_history"] = [{"samples": [n for n, _ in kept], "policy": [p for _, p in kept]}
                                 for kept in map(thin_snapshots, net.router.history)]
    return out


#: Most WPL policy snapshots per agent kept in the results (Figures 9, 10). The quick profile records 241 per
#: task; 100 paper epochs would record 50,000 (a results file of gigabytes), so longer runs keep an even subset.
MAX_POLICY_SNAPSHOTS = 250


def thin_snapshots(history: list, limit: int = MAX_POLICY_SNAPSHOTS) -> list:
    """At most ``limit`` items of ``history``, evenly spaced, always keeping the first and the last."""
    if limit < 2:
        raise ValueError(f"limit must be at least 2, got {limit}")
    if len(history) <= limit:
        return list(history)
    keep = np.unique(np.linspace(0, len(history) - 1, limit).round().astype(int))
    return [history[i] for i in keep]


def step_cost(name: str, n_tasks: int, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 2,
              hidden: int = 128, batch_size: int = 100, batches: int = 6, data: TaskData | None = None, seed: int = 0,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per training sample of architecture ``name`` with ``n_tasks`` tasks (one block per task per
    layer), measured over ``batches`` steps of Algorithm 2 after one warm-up step. Samples come from ``data``
    (its first ``n_tasks`` tasks) or are random inputs with random task ids. Figures 13/15 normalise the
    per-epoch time by the number of tasks; with the same samples per task, that is the time per sample.
    ``clock``: wall clock by default; ``time.process_time`` (CPU time of this process) is less sensitive to
    other jobs on a shared machine."""
    gen = torch_generator(seed)
    torch.manual_seed(seed)
    net = build_network(name, n_tasks, tuple(in_shape), n_classes, hidden)
    opt = torch.optim.SGD(net.block_parameters(), lr=0.01)
    collab = CollaborationReward(net.fc.n_actions, 0.0) if isinstance(net, RoutingNetwork) else None
    if data is not None:
        first = data.first_tasks(n_tasks)
        x_all, y_all, t_all = first.x, first.y, first.task
    else:
        n = batch_size * (batches + 1)
        x_all = torch.rand(n, *in_shape, generator=gen)
        y_all = torch.randint(0, n_classes, (n,), generator=gen)
        t_all = torch.randint(0, n_tasks, (n,), generator=gen)
    order = torch.randperm(len(x_all), generator=gen)
    elapsed = 0.0
    for b in range(batches + 1):
        idx = order[(b * batch_size) % len(order):][:batch_size]
        t0 = clock()
        train_step(net, opt, x_all[idx], y_all[idx], t_all[idx], collab, generator=gen)
        if b > 0:
            elapsed += clock() - t0
    return elapsed / (batches * batch_size)
