"""Chapter 1 — Routing Networks (Rosenbaum, Klinger & Riemer, ICLR 2018) on MNIST-MTL.

Trains routed SimpleConvNets (router agents: WPL, tabular / approximate Q-learning, REINFORCE, single agent,
dispatched; layered and recursive routing) and the static / soft baselines (task-specific-1-fc,
task-specific-all-fc, cross-stitch-all-fc, soft-mixture-all-fc) jointly with SGD as in Algorithm 2, and
records test accuracy per epoch (Table 2, Figures 4, 5, 8), the WPL policies over time (Figures 9, 10), the
routing map (Figure 11) and the cost of a training step as the number of tasks grows (Figures 13, 15).

``python -m mtlnotes.experiments.routing --profile quick``; ``--profile paper`` is the paper's schedule on
MNIST-MTL; ``--profile paper-cifar`` / ``paper-min`` need CIFAR-100 / mini-ImageNet (see the data modules).
Extra options: ``--time-budget SECONDS`` (stop each unit after that much training time, recording the epochs
run) and ``--architectures a,b,c``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import TaskData, load_mnist, mnist_mtl
from mtlnotes.experiments.cli import run_cli
from mtlnotes.repro import make_deterministic, seed_everything, set_threads, torch_generator
from mtlnotes.results import Claim
from mtlnotes.routing import (DEFAULT_SCALING, CollaborationReward, RouterSettings, RoutingNetwork, WPLRouter,
                              build_network, predict_tasks, train_step)
from mtlnotes.training import minibatches, progress

__all__ = ["Config", "QUICK", "PAPER", "PAPER_CIFAR", "PAPER_MIN", "FIG4", "FIG5", "FIG8", "TABLE2_MNIST",
           "load_data", "train_architecture", "thin_snapshots", "MAX_POLICY_SNAPSHOTS", "run", "claims", "step_cost",
           "cost_claims", "COST_ARCHITECTURES", "main"]

CHAPTER = "routing"
FIG4 = ("routing-all-fc", "qlearning-table", "qlearning-approx", "reinforce-approx")          # RL algorithms
FIG5 = ("routing-all-fc", "routing-all-fc-recursive", "routing-all-fc-dispatched",
        "routing-all-fc-single-agent", "soft-mixture-all-fc")                                    # architectures
FIG8 = ("routing-all-fc", "task-specific-all-fc", "task-specific-1-fc", "cross-stitch-all-fc",
        "soft-mixture-all-fc")                                                                   # vs baselines


#: Table 2 of Rosenbaum et al. (2018), MNIST-MTL rows: test accuracy (%) after 100 epochs.
TABLE2_MNIST = {"routing-all-fc": 99, "task-specific-all-fc": 96, "task-specific-1-fc": 95,
                "cross-stitch-all-fc": 90, "soft-mixture-all-fc": 90}


@dataclass(frozen=True)
class Config:
    """Every knob of the chapter, with where the paper states it."""

    profile: str = "quick"
    seeds: tuple[int, ...] = (0,)
    dataset: str = "mnist-mtl"            # §4: MNIST-MTL (also "cifar-mtl", "min-mtl")
    n_pos: int = 1000                     # §4: 1k positives per MNIST-MTL task
    n_neg_per_digit: int = 1000           # §4: 1k of each other digit
    n_test_per_task: int = 200            # §4: 200 test samples per task
    data_seed: int = 0
    hidden: int = 128                     # §4: "3 fully connected layers, with 128 hidden units each"
    epochs: int = 100                     # Table 2 / Figures 4–8: 100 epochs
    batch_size: int = 100                 # not stated in the paper
    optimizer: str = "sgd"                # §4: SGD (Adam was tried and found marginally worse)
    lr: float = 1e-2                      # §4: SGD, learning rate 1e-2 ...
    lr_step_epochs: int = 20              # ... divided by 10 every 20 epochs
    rho: float = 0.3                      # §4: ρ = 0.3 on MNIST-MTL (0.0 on CIFAR-MTL, MIN-MTL)
    wpl_lr: float = 0.01                  # WPL λ_π (Algorithm 3): not stated in the paper
    q_lr: float = 0.1                     # tabular Q-learning step size: not stated
    mlp_lr: float = 0.01                  # SGD rate of the MLP router approximators: not stated
    epsilon: float = 0.1                  # ε of the Q-learners' ε-greedy exploration: not stated
    gamma: float = 1.0                    # discount γ of Algorithm 3: not stated
    wpl_scaling: str = DEFAULT_SCALING    # WPL sign convention of §3.1.2 and Algorithm 3 (positive Δ × π(a),
                                          # negative Δ × (1 - π(a))); Appendix 7.4 says the opposite
                                          # ("abdallah"). See mtlnotes.routing.wpl and the chapter.
    architectures: tuple[str, ...] = tuple(dict.fromkeys(FIG4 + FIG5 + FIG8))
    record_every: int = 20                # WPL policy snapshot every k samples of a task (Figures 9, 10)
    cost_tasks: tuple[int, ...] = (2, 5, 10)   # Figures 13/15: training cost as tasks are added (MNIST-MTL has 10)
    cost_batches: int = 6                 # timed training steps per point of the cost curve
    time_budget_s: float | None = None    # stop a unit after this much training time (partial CPU paper runs)


# The quick profile is a small CPU-sized version: 400 training samples per task (40 positives, 40 of each other
# digit: the paper's 1:9 balance), 100 test samples per task, 3 epochs (120 steps of 100 samples), one seed, and
# Adam (3e-3) instead of SGD so that the networks get past the trivial "always negative" answer (90% accuracy) in
# so few steps. With 200 samples per task, 2 epochs and Adam 1e-3 (the quick profile of commit 580c3d3) ten of the
# eleven architectures ended at exactly 90.0% and task-specific-all-fc at 90.9%.
QUICK = Config(profile="quick", seeds=(0,), n_pos=40, n_neg_per_digit=40, n_test_per_task=100, epochs=3,
               optimizer="adam", lr=3e-3, wpl_lr=0.05, record_every=5, cost_batches=2)
PAPER = Config(profile="paper", seeds=(0, 1, 2))
PAPER_CIFAR = Config(profile="paper-cifar", seeds=(0, 1, 2), dataset="cifar-mtl", rho=0.0,
                     architectures=tuple(dict.fromkeys(FIG4 + FIG5 + FIG8)), cost_tasks=(2, 5, 10, 20))
PAPER_MIN = Config(profile="paper-min", seeds=(0, 1, 2), dataset="min-mtl", rho=0.0,
                   architectures=tuple(dict.fromkeys(FIG8)), cost_tasks=(2, 5, 10))


def load_data(config: Config, root=None) -> tuple[TaskData, TaskData]:
    """(train, test) TaskData of the configured dataset (all tasks have the same number of classes)."""
    if config.dataset == "mnist-mtl":
        train, test = load_mnist("train", root), load_mnist("test", root)
        return mnist_mtl(train, test, config.data_seed, config.n_pos, config.n_neg_per_digit, config.n_test_per_task)
    if config.dataset == "cifar-mtl":
        from mtlnotes.data.cifar_mtl import cifar_mtl
        return cifar_mtl(root=root)
    if config.dataset == "min-mtl":
        from mtlnotes.data.miniimagenet import min_mtl
        return min_mtl(root=root, seed=config.data_seed)
    raise ValueError(f"unknown dataset {config.dataset!r}; choose mnist-mtl, cifar-mtl or min-mtl")


def _settings(config: Config, record: bool) -> RouterSettings:
    return RouterSettings(wpl_lr=config.wpl_lr, q_lr=config.q_lr, mlp_lr=config.mlp_lr, epsilon=config.epsilon,
                          gamma=config.gamma, scaling=config.wpl_scaling,
                          record_every=config.record_every if record else None)


def _n_classes(train: TaskData) -> int:
    return int(train.y.max()) + 1


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


def train_architecture(name: str, train: TaskData, test: TaskData, config: Config, seed: int,
                       device: torch.device | str = "cpu", store: CheckpointStore | None = None,
                       record: bool = False) -> dict:
    """Train architecture ``name`` by Algorithm 2 (SGD on the blocks, the router on its traces) for
    ``config.epochs`` epochs (or until ``config.time_budget_s``); evaluate on ``test`` after every epoch.

    Returns plain data: mean and per-task test accuracy per epoch, epochs run, training seconds, and for
    routed networks the greedy routing map (T, D, A) counts on the test set; with ``record`` the WPL policy
    snapshots of every agent.
    """
    seed_everything(seed)
    n_tasks, in_shape = train.n_tasks, tuple(train.x.shape[1:])
    net = build_network(name, n_tasks, in_shape, _n_classes(train), config.hidden, _settings(config, record))
    net = net.to(device)
    if config.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")
    opt_cls = torch.optim.SGD if config.optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(net.block_parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step_epochs, gamma=0.1)
    collab = CollaborationReward(net.fc.n_actions, config.rho) if isinstance(net, RoutingNetwork) else None
    gen = torch_generator(seed)
    key = f"{name}-seed{seed}"
    curve, per_task, seconds, start_epoch = [], [], 0.0, 0
    saved = store.load_state(key) if store is not None else None
    if saved is not None:
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        _load_router_state(net, saved["router"])
        if collab is not None:
            collab.sums, collab.count = saved["collab"]
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["torch_rng"])
        curve, per_task, seconds, start_epoch = saved["curve"], saved["per_task"], saved["seconds"], saved["epoch"]
    for epoch in progress(range(start_epoch, config.epochs), desc=name):
        if config.time_budget_s is not None and seconds >= config.time_budget_s:
            break
        t0 = time.perf_counter()
        for idx in minibatches(len(train), config.batch_size, gen):
            train_step(net, opt, train.x[idx].to(device), train.y[idx].to(device), train.task[idx].to(device),
                       collab, config.gamma, gen)
        sched.step()
        seconds += time.perf_counter() - t0
        logits, _ = predict_tasks(net, test.x, test.task, device=device)
        correct = (logits.argmax(1) == test.y).float()
        curve.append(float(correct.mean()))
        per_task.append([float(correct[test.task == t].mean()) for t in range(n_tasks)])
        if store is not None:
            store.save_state(key, {"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                                   "router": _router_state(net), "collab": None if collab is None else
                                   (collab.sums, collab.count), "gen": gen.get_state(),
                                   "torch_rng": torch.get_rng_state(), "curve": curve, "per_task": per_task,
                                   "seconds": seconds, "epoch": epoch + 1})
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


def step_cost(name: str, n_tasks: int, in_shape=(1, 28, 28), n_classes: int = 2, hidden: int = 128,
              batch_size: int = 100, batches: int = 6, data: TaskData | None = None, seed: int = 0,
              clock=time.perf_counter) -> float:
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
        keep = torch.nonzero(data.task < n_tasks).flatten()
        x_all, y_all, t_all = data.x[keep], data.y[keep], data.task[keep]
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


def run(config: Config, *, device: torch.device | str | None = None, checkpoint_dir=None, root=None) -> dict:
    """Train every configured architecture for every seed on the configured dataset; plain-data results."""
    set_threads()
    make_deterministic(True)
    device = device or "cpu"
    store = CheckpointStore(checkpoint_dir, fingerprint=dataclasses.replace(config, time_budget_s=None, architectures=()))
    train, test = load_data(config, root)
    units = {}
    for seed in config.seeds:
        for name in config.architectures:
            record = name == "routing-all-fc" and seed == config.seeds[0]
            key = f"{name}-seed{seed}"
            units[key] = store.get_or_compute(
                key + "-done", lambda name=name, seed=seed, record=record:
                train_architecture(name, train, test, config, seed, device, store, record)) \
                if config.time_budget_s is None else \
                train_architecture(name, train, test, config, seed, device, store, record)
    # Figures 13/15: CPU time (of this process) per training sample as tasks are added; a timing, so it varies
    # from run to run and its claims are judged from one measurement
    cost = {name: [step_cost(name, k, data=train, batches=config.cost_batches, clock=time.process_time)
                   for k in config.cost_tasks] for name in COST_ARCHITECTURES} if config.cost_tasks else {}
    return {"dataset": config.dataset, "task_names": list(train.task_names),
            "sizes": {"train": len(train), "test": len(test)},
            "majority_baseline": float(max((test.y == c).float().mean() for c in range(_n_classes(train)))),
            "units": units, "cost": {"tasks": list(config.cost_tasks), "seconds_per_sample": cost}}


#: The architectures whose training cost Figures 13/15 compare.
COST_ARCHITECTURES = ("routing-all-fc", "cross-stitch-all-fc")


def cost_claims(cost: dict, config: Config) -> list[Claim]:
    """The paper's cost-scaling claims (abstract; §4 and Figures 13/15) judged from ``cost`` = ``run()``'s
    ``results["cost"]``: {"tasks": [k...], "seconds_per_sample": {architecture: [seconds per sample at each k]}}.

    Per-task cost = time per training sample (the paper's per-epoch time / number of tasks). "Nearly constant"
    holds when routing's cost at the most tasks is at most 1.3× its cost at the fewest; "linear" holds when
    cross-stitch's grows by at least half the linear factor, 1 + (k_max/k_min − 1)/2; "cheaper" when routing
    costs less per sample than cross-stitch at the most tasks. One timing each: no spread to test against."""
    tasks, secs = cost.get("tasks", []), cost.get("seconds_per_sample", {})
    if len(tasks) < 2 or not set(COST_ARCHITECTURES) <= set(secs):
        return []
    k0, k1 = tasks[0], tasks[-1]
    r, cs = secs["routing-all-fc"], secs["cross-stitch-all-fc"]
    r_ratio, cs_ratio, rel = r[-1] / r[0], cs[-1] / cs[0], r[-1] / cs[-1]
    linear = k1 / k0
    where = "abstract; §4 and Figures 13/15"
    note = f"CPU time per training sample, {k0} vs {k1} tasks (one block per task per layer), one measurement"
    return [
        Claim(CHAPTER, f"Routing networks have nearly constant per-task training cost as tasks are added (ours: "
                       f"routing-all-fc's cost at {k1} tasks / at {k0} tasks)", 1.0, round(r_ratio, 2),
              bool(r_ratio <= 1.3), config.profile, source=where, note=note + "; holds when ≤ 1.3"),
        Claim(CHAPTER, f"Cross-stitch networks' per-task training cost scales linearly with the number of tasks "
                       f"(ours: cross-stitch-all-fc's cost at {k1} tasks / at {k0} tasks)", round(linear, 2),
              round(cs_ratio, 2), bool(cs_ratio >= 1 + (linear - 1) / 2), config.profile, source=where,
              note=note + f"; holds when ≥ {1 + (linear - 1) / 2:g} (half the linear growth)"),
        Claim(CHAPTER, f"Routing trains cheaper than cross-stitch (85% less time on CIFAR-MTL, 20 tasks; ours: "
                       f"routing / cross-stitch cost per sample at {k1} tasks)", 0.15, round(rel, 2),
              bool(rel < 1.0), config.profile, source="abstract; §4", note=note + "; holds when < 1"),
    ]


def final_accuracy(results: dict, name: str) -> list[float]:
    """Test accuracy after the last epoch run, one value per seed."""
    return [u["test_accuracy"][-1] for u in results["units"].values() if u["architecture"] == name]


def claims(results: dict, config: Config, *, timings: bool = False) -> list[Claim]:
    """Table 2 (MNIST-MTL rows, after 100 epochs) and the §4 orderings, at this profile; with ``timings`` (the
    CLI's results files) also the cost-scaling claims (:func:`cost_claims`) when ``results`` holds the cost
    measurement. Off by default: timings vary between runs, and a notebook's table must not."""
    cost = cost_claims(results["cost"], config) if timings and "cost" in results else []
    if config.dataset != "mnist-mtl":
        return cost
    have = {u["architecture"] for u in results["units"].values()}
    epochs = {u["architecture"]: u["epochs_run"] for u in results["units"].values()}

    def acc(name):
        return round(100 * float(np.mean(final_accuracy(results, name))), 2) if name in have else None

    def acc_at(name, epoch):  # mean over seeds of the test accuracy after ``epoch`` epochs
        return round(100 * float(np.mean([u["test_accuracy"][epoch - 1] for u in results["units"].values()
                                          if u["architecture"] == name])), 2)

    def common_epoch(names):  # orderings compare architectures after the same number of epochs
        return min(u["epochs_run"] for u in results["units"].values() if u["architecture"] in names)

    out = []
    if "majority_baseline" in results:
        base = round(100 * float(results["majority_baseline"]), 2)
        out.append(Claim(CHAPTER, "On MNIST-MTL the random baseline (always answering 'not c') is 90% (%)", 90.0, base,
                         bool(abs(base - 90.0) <= 0.5), config.profile, source="§4, discussion of Figure 8",
                         note="share of the majority class in our test set"))
    for name, paper in TABLE2_MNIST.items():
        if name in have:
            ours = acc(name)
            out.append(Claim(CHAPTER, f"MNIST-MTL test accuracy of {name} after 100 epochs (%)", paper, ours,
                             None if epochs[name] < 100 else bool(abs(ours - paper) <= 1.5), config.profile,
                             source="Rosenbaum et al. (2018), Table 2 / Figure 8",
                             note=f"{epochs[name]} epochs run; judged only after 100 epochs (±1.5 points)"))
    if {"routing-all-fc", "task-specific-all-fc", "cross-stitch-all-fc"} <= have:
        e = common_epoch({"routing-all-fc", "task-specific-all-fc", "cross-stitch-all-fc"})
        r, ts, cs = (acc_at(n, e) for n in ("routing-all-fc", "task-specific-all-fc", "cross-stitch-all-fc"))
        note = f"after {e} epochs, the fewest any of the three ran; holds = routing is better at all"
        out.append(Claim(CHAPTER, "On MNIST-MTL routing-all-fc beats the nearest baseline (task-specific-all-fc) "
                                  "by about 3 points (ours: routing minus task-specific-all-fc, points)",
                         3.0, round(r - ts, 2), bool(r - ts > 0), config.profile, source="§4, Figure 8", note=note))
        out.append(Claim(CHAPTER, "On MNIST-MTL routing-all-fc beats cross-stitch-all-fc by about 9 points "
                                  "(ours: difference, points)", 9.0, round(r - cs, 2), bool(r - cs > 0),
                         config.profile, source="§4, Figure 8", note=note))
    for names, what, where in ((FIG4, "MARL:WPL (routing-all-fc) is the best of the RL algorithms of Figure 4",
                                "§4, Figure 4 (on CIFAR-MTL in the paper; MNIST-MTL here)"),
                               (FIG5, "routing-all-fc (per-task WPL agents) is the best routing architecture of "
                                      "Figure 5", "§4, Figure 5 (on CIFAR-MTL in the paper; MNIST-MTL here)")):
        if set(names) <= have:
            e = common_epoch(set(names))
            top = max(acc_at(n, e) for n in names)
            best = [n for n in names if acc_at(n, e) == top]
            ours = best[0] if len(best) == 1 else "tie: " + ", ".join(best)
            out.append(Claim(CHAPTER, what + " (ours: the best one, or the tied ones)", "routing-all-fc", ours,
                             best == ["routing-all-fc"], config.profile, source=where,
                             note=f"after {e} epochs; holds only when routing-all-fc is strictly the best"))
    return out + cost


def main(argv=None):
    """The shared CLI plus ``--time-budget SECONDS`` and ``--architectures a,b`` (both recorded in the config)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    changes = {}
    for flag, field, parse in (("--time-budget", "time_budget_s", float),
                               ("--architectures", "architectures", lambda s: tuple(s.split(",")))):
        if flag in argv:
            i = argv.index(flag)
            try:
                changes[field] = parse(argv[i + 1])
            except (IndexError, ValueError):
                from mtlnotes.experiments.cli import usage_error

                usage_error("routing", f"{flag} needs a value ({'seconds' if field == 'time_budget_s' else 'a,b,c'})")
            del argv[i:i + 2]
    profiles = {p.profile: dataclasses.replace(p, **changes) for p in (QUICK, PAPER, PAPER_CIFAR, PAPER_MIN)}
    return run_cli(CHAPTER, profiles, run, lambda res, cfg: claims(res, cfg, timings=True), argv)


if __name__ == "__main__":
    main()
