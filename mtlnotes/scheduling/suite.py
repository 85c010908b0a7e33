"""The four task selection policies trained on a multi-task suite (Glover & Hokamp, 2019, "Task Selection
Policies for Multitask Learning", §4.2 and Table 1, on a stand-in for GLUE).

Uniform (Eq. 3), task size (Eq. 4), Exp3.S (Eq. 5) and π^C (Eq. 12), each with every seed, drive
:func:`~mtlnotes.scheduling.trainer.train_with_policy` on a :class:`~mtlnotes.models.task_indexed.SharedTrunkMLP`
with Adam. π^C is fitted by CMA-ES (one improvement step, Eq. 14) on the logged uniform run of the first seed,
as the paper does for GLUE, for every λ in ``suite_lambdas``, and run with ``suite_lambda``.

The data come in as two :class:`~mtlnotes.data.tasks_offline.TaskSet` (train, test); ``config`` is any object
with the fields of :class:`SuiteConfig` (the task selection chapter's ``Config``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.models.task_indexed import SharedTrunkMLP
from mtlnotes.repro import seed_everything
from mtlnotes.scheduling.counterfactual import TaskLog, fit_counterfactual_policy
from mtlnotes.scheduling.policies import (Exp3SPolicy, FixedPolicy, PolicyRunConfig, TaskPolicy, TaskSizePolicy,
                                         UniformPolicy)
from mtlnotes.scheduling.trainer import train_with_policy
from mtlnotes.training import Stopwatch, predict

if TYPE_CHECKING:
    from mtlnotes.data.tasks_offline import TaskSet

__all__ = ["METHODS", "SuiteConfig", "suite_policy", "torch_threads", "suite_run", "run_suite"]

#: The policies of Table 1, in its order.
METHODS = ("uniform", "task_size", "exp3s", "counterfactual")


class SuiteConfig(PolicyRunConfig, Protocol):
    """The settings the suite runs read (the task selection chapter's ``Config`` has them all)."""

    @property
    def suite_steps(self) -> int: ...
    @property
    def suite_threads(self) -> int: ...                        # torch threads for the suite's small MLP
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...                                 # Adam
    @property
    def hidden(self) -> tuple[int, ...]: ...                   # shared trunk 784 -> hidden
    @property
    def eval_every(self) -> int: ...
    @property
    def suite_lambda(self) -> float: ...                       # λ of the π^C runs
    @property
    def suite_lambdas(self) -> tuple[float, ...]: ...          # π^C is fitted for each
    @property
    def suite_cma_iterations(self) -> int: ...
    @property
    def suite_cma_popsize(self) -> int: ...


def suite_policy(name: str, train: TaskSet, config: SuiteConfig, pi_c: np.ndarray | None) -> TaskPolicy:
    """The policy called ``name`` (one of :data:`METHODS`) for the tasks of ``train``; ``pi_c`` (K,) is π^C's
    distribution, used by ``"counterfactual"`` only."""
    n = len(train.names)
    if name == "uniform":
        return UniformPolicy(n)
    if name == "task_size":
        return TaskSizePolicy(train.sizes)
    if name == "exp3s":
        return Exp3SPolicy(n, config.eta, config.eps)
    if name == "counterfactual":
        return FixedPolicy(pi_c, name="counterfactual")
    raise ValueError(f"unknown policy {name!r}; expected one of {METHODS}")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads and restore the previous count (the suite's tiny matrices are fastest, and
    bit-for-bit reproducible, on one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def suite_run(train: TaskSet, test: TaskSet, config: SuiteConfig, method: str, seed: int,
              device: torch.device | str | None, pi_c: np.ndarray | None = None) -> dict:
    """One policy × seed on ``config.suite_threads`` threads: final test accuracy per task, its mean, how often
    each task was drawn, the accuracy curve and the run's log (actions, behaviour probabilities, rewards)."""
    with torch_threads(config.suite_threads):
        return _suite_run(train, test, config, method, seed, device, pi_c)


def _suite_run(train: TaskSet, test: TaskSet, config: SuiteConfig, method: str, seed: int, device,
               pi_c: np.ndarray | None = None) -> dict:
    seed_everything(seed)
    model = SharedTrunkMLP(config.hidden, train.n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    policy = suite_policy(method, train, config, pi_c)
    xs = [x.to(device) for x in train.x]
    ys = [y.to(device) for y in train.y]

    def evaluate() -> list[float]:
        model.eval()
        accs = []
        for k in range(len(test.names)):
            logits = predict(lambda xb, k=k: model(xb, k), test.x[k], device=device)
            accs.append(float((logits.argmax(1) == test.y[k]).float().mean()))
        return accs

    res = train_with_policy(
        model, opt, policy, batch_fn=lambda k, idx: (xs[k][idx], ys[k][idx]),
        loss_fn=lambda k, out, y: F.cross_entropy(out, y), task_sizes=train.sizes, steps=config.suite_steps,
        batch_size=config.batch_size, seed=seed, evaluate=evaluate, eval_every=config.eval_every,
        desc=f"{method} seed {seed}")
    final = res.evals[-1][1]
    return {"final": final, "average": float(np.mean(final)), "counts": res.counts.tolist(),
            "eval_steps": [s for s, _ in res.evals], "eval_average": [float(np.mean(a)) for _, a in res.evals],
            "log": {"actions": res.log.actions.tolist(), "behavior_probs": res.log.behavior_probs.tolist(),
                    "rewards": res.log.rewards.tolist()}}


def run_suite(train: TaskSet, test: TaskSet, config: SuiteConfig, device: torch.device | str | None = None,
              store: CheckpointStore | None = None) -> dict:
    """Uniform, task-size, Exp3.S and π^C on the suite; π^C is fitted (one improvement step, Eq. 14) on
    the logged uniform run of the first seed, for every λ in ``suite_lambdas``, and run with ``suite_lambda``."""
    store = store or CheckpointStore(None)
    device = torch.device(device or "cpu")
    sw = Stopwatch()
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    with sw:
        for method in ("uniform", "task_size", "exp3s"):
            for s in config.seeds:
                runs[method].append(store.get_or_compute(
                    f"suite-{method}-{s}", lambda m=method, s=s: suite_run(train, test, config, m, s, device)))
        lg = runs["uniform"][0]["log"]
        log = TaskLog(np.asarray(lg["actions"]), np.asarray(lg["behavior_probs"]), np.asarray(lg["rewards"]),
                      len(train.names))
        fits = {}
        for lam in config.suite_lambdas if config.suite_lambda in config.suite_lambdas else (
                *config.suite_lambdas, config.suite_lambda):
            fit = fit_counterfactual_policy(log, lam, config.suite_cma_iterations, config.suite_cma_popsize,
                                            seed=config.seeds[0])
            fits[str(lam)] = {"probs": fit.probs.tolist(), "wis": fit.wis, "entropy": fit.entropy}
        pi_c = np.asarray(fits[str(config.suite_lambda)]["probs"])
        for s in config.seeds:
            runs["counterfactual"].append(store.get_or_compute(
                f"suite-counterfactual-{s}",
                lambda s=s: suite_run(train, test, config, "counterfactual", s, device, pi_c=pi_c)))
    for m in METHODS:           # logs are large and only the first uniform one is needed; keep its summary
        for r in runs[m]:
            r.pop("log", None)
    reward_by_task = np.bincount(log.actions, weights=log.rewards, minlength=len(train.names))
    return {
        "tasks": list(train.names), "train_sizes": train.sizes, "test_sizes": test.sizes,
        "n_classes": list(train.n_classes),
        "runs": runs,
        "average": {m: [r["average"] for r in runs[m]] for m in METHODS},
        "per_task_mean": {m: np.mean([r["final"] for r in runs[m]], axis=0).tolist() for m in METHODS},
        "pi_c_fits": fits, "pi_c": pi_c.tolist(), "lambda": config.suite_lambda,
        "uniform_log_reward_by_task": (reward_by_task / np.maximum(np.bincount(log.actions, minlength=len(
            train.names)), 1)).tolist(),
        "task_size_policy": TaskSizePolicy(train.sizes).probabilities().tolist(),
        "wall_s": sw.seconds,
    }
