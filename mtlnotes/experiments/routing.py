"""Chapter 1 — Routing Networks (Rosenbaum, Klinger & Riemer, ICLR 2018) on MNIST-MTL.

Trains routed SimpleConvNets (router agents: WPL, tabular / approximate Q-learning, REINFORCE, single agent,
dispatched; layered and recursive routing) and the static / soft baselines (task-specific-1-fc,
task-specific-all-fc, cross-stitch-all-fc, soft-mixture-all-fc) jointly with SGD as in Algorithm 2, and
records test accuracy per epoch (Table 2, Figures 4, 5, 8), the WPL policies over time (Figures 9, 10), the
routing map (Figure 11), the accuracy of routing and cross-stitch networks trained on the first n tasks only
(Figure 15) and the cost of a training step as the number of tasks grows (Figures 13, 15).

``python -m mtlnotes.experiments.routing --profile quick``; ``--profile paper`` is the paper's schedule on
MNIST-MTL; ``--profile paper-cifar`` / ``paper-min`` need CIFAR-100 / mini-ImageNet (see the data modules).
Extra options: ``--time-budget SECONDS`` (stop each unit after that much training time, recording the epochs
run) and ``--architectures a,b,c``. The training loop and the step-cost timing live in
:mod:`mtlnotes.routing.training`, the datasets in :mod:`mtlnotes.routing.data`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import TaskData
from mtlnotes.experiments.cli import run_cli
from mtlnotes.repro import make_deterministic, set_threads
from mtlnotes.results import Claim
from mtlnotes.stats import MIN_SEEDS, all_hold, compare, mean_interval
from mtlnotes.routing import DEFAULT_SCALING
from mtlnotes.routing.data import class_count, load_routing_data, load_routing_validation
from mtlnotes.routing.sweep import best_setting, router_sweep, sweep_grid
from mtlnotes.routing.tables import first_tasks_accuracy
from mtlnotes.routing.training import MAX_POLICY_SNAPSHOTS, step_cost, thin_snapshots, train_architecture

__all__ = ["Config", "QUICK", "FULL", "PAPER", "PAPER_CIFAR", "PAPER_MIN", "FIG4", "FIG5", "FIG8", "TABLE2_MNIST",
           "load_data", "train_architecture", "thin_snapshots", "MAX_POLICY_SNAPSHOTS", "run", "claims", "step_cost",
           "cost_claims", "COST_ARCHITECTURES", "main", "run_sweep", "sweep_claims", "checkpoint_fingerprint",
           "SWEEP_FIELDS", "UNIT_KEYED_FIELDS", "unit_key", "base_point_units", "first_tasks_units",
           "checkpoint_units", "first_tasks_claims"]

CHAPTER = "routing"
FIG4 = ("routing-all-fc", "qlearning-table", "qlearning-approx", "reinforce-approx")          # RL algorithms
FIG5 = ("routing-all-fc", "routing-all-fc-recursive", "routing-all-fc-dispatched",
        "routing-all-fc-single-agent", "soft-mixture-all-fc", "soft-routing-all-fc")             # architectures
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
    first_n_tasks: tuple[int, ...] = (2, 3, 5)  # Figure 15 (accuracy): COST_ARCHITECTURES also trained on the first
                                          # n tasks only (n blocks per layer); the paper's n are 2, 3, 5 and 10 of
                                          # CIFAR-MTL's 20. All the dataset's tasks are the main units themselves.
    time_budget_s: float | None = None    # stop a unit after this much training time (partial CPU paper runs)
    channels_last: bool = False           # memory layout of the conv trunk: speed only (1.5–2× per training step
                                          # on this CPU, measured; the same model up to float rounding)
    # --- the router's hyper-parameters chosen on validation data (§4: "We did a parameter sweep to find the best
    # learning rate and ρ value for each algorithm on each dataset"; Appendix 7.1, Figure 12: the effect of ρ).
    # With sweep_wpl_lrs or sweep_rhos set, sweep_architecture is trained (seeds sweep_seeds, sweep_epochs epochs) at
    # each point of a coordinate sweep (mtlnotes.routing.sweep.sweep_grid around wpl_lr and rho) on MNIST-MTL drawn
    # from 1 - val_fraction of the MNIST training images and validated on MNIST-MTL drawn from the rest
    # (n_val_per_task per task); the best point replaces wpl_lr and rho for that architecture's test-set units.
    sweep_architecture: str = "routing-all-fc"
    sweep_wpl_lrs: tuple[float, ...] = ()
    sweep_rhos: tuple[float, ...] = ()
    sweep_epochs: int = 4
    sweep_seeds: tuple[int, ...] = (0,)
    val_fraction: float = 0.1
    n_val_per_task: int = 1000


# The quick profile is a small CPU-sized version: 400 training samples per task (40 positives, 40 of each other
# digit: the paper's 1:9 balance), 100 test samples per task, 3 epochs (120 steps of 100 samples), one seed, and
# Adam (3e-3) instead of SGD so that the networks get past the trivial "always negative" answer (90% accuracy) in
# so few steps. With 200 samples per task, 2 epochs and Adam 1e-3 (the quick profile of commit 580c3d3) ten of the
# eleven architectures ended at exactly 90.0% and task-specific-all-fc at 90.9%.
QUICK = Config(profile="quick", seeds=(0,), n_pos=40, n_neg_per_digit=40, n_test_per_task=100, epochs=3,
               optimizer="adam", lr=3e-3, wpl_lr=0.05, record_every=5, cost_batches=2)
# The paper profile: the paper's MNIST-MTL schedule in full (100 epochs of SGD 1e-2, divided by 10 every 20 epochs),
# 3 seeds. WPL's step size is the one the full profile's validation sweep chose (results/routing-full.json,
# router_sweep.chosen: 0.1 at ρ = 0.3, 3 seeds × 4 epochs on a validation split of the MNIST training images; the
# paper states no step size), used by both WPL architectures, so the 100-epoch run does not repeat the sweep. The
# channels-last trunk is a speed choice only; WPL snapshots every 400 updates (the results keep 250 per agent anyway,
# :data:`~mtlnotes.routing.training.MAX_POLICY_SNAPSHOTS`; every 20 would keep 50,000 per agent in the checkpoints).
# Measured on this CPU, one thread: 55–100 ms per step of 100 samples, 1,000 steps per epoch, so a unit is
# 1.5–2.8 CPU-hours and Table 2's five architectures × 3 seeds ≈ 30 CPU-hours (run across sessions, resuming
# from the per-epoch checkpoints). On a GPU (--device cuda) the trunk and blocks run there and the routers stay on
# the CPU (routing.network.place). Measured on one H200 with 16 CPU cores, 6 single-thread worker processes sharing
# it (GPU utilisation 99%): 32–34 s per epoch per process for routing-all-fc and task-specific-all-fc, 12–13 s for
# cross-stitch-all-fc and soft-mixture-all-fc, 17–18 epochs a minute in all (with 12 processes as with 6);
# on this 2-core CPU two processes manage about 1.4 epochs a minute. Figure 15's units on the first 2, 3 and 5 tasks
# cost n/10 of a unit each, so about one unit per architecture and seed: ≈ 14 CPU-hours for routing and cross-stitch.
# The committed results/routing-paper.json: Table 2's five architectures and Figure 4's three other routers × 3 seeds
# at 100 epochs and Figure 15's 18 units on the first 2, 3 and 5 tasks (--architectures routing-all-fc,
# task-specific-all-fc,cross-stitch-all-fc,task-specific-1-fc,soft-mixture-all-fc,qlearning-table,qlearning-approx,
# reinforce-approx),
# 1.98–2.55 h of training per unit for the headline three, 1.75–1.8 h for task-specific-1-fc and soft-mixture-all-fc
# (on a faster 2-core CPU, three processes side by side); recorded 30.2 CPU-hours and 0.6 H200 process-hours; the
# first-n units 10.6 process-hours more on that faster CPU, three single-thread processes sharing its 2 cores
# (0.3–0.6 h per unit on 2 tasks, 0.5 h on 3, 0.8–0.9 h on 5); Figure 4's 9 units 17.0 process-hours more there
# (1.6–2.1 h per unit; results/routing-paper.units.txt). Figure 5's other architectures are trained next.
PAPER = Config(profile="paper", seeds=(0, 1, 2), wpl_lr=0.1, channels_last=True, record_every=400)
# The full profile: the paper's MNIST-MTL (1k positives and 1k of each other digit per task, 200 test samples per
# task), its optimiser and learning rate (SGD 1e-2), the five architectures of Table 2 and Figure 8, 3 seeds, but
# only the first 8 of its 100 epochs (the step of the learning rate at epoch 20 is not reached). Measured on this
# CPU, one thread, channels-last trunk: 47–66 ms per step of 100 samples, 1,000 steps per epoch, so 8 epochs × 5
# architectures × 3 seeds ≈ 1.8 CPU-hours estimated. The committed run took 5.0 CPU-hours of training: 1.77 for the
# four baselines, 2.15 for the validation sweep below (7 points × 3 seeds), 0.63 for routing-all-fc at the chosen
# point and 0.48 at the base point (kept for comparison), on two single-thread processes. 100 epochs would be
# ≈ 30 CPU-hours for the five architectures (the paper profile above).
# In an earlier partial CPU run of the paper profile (one seed, stopped after 19–38 epochs) the three architectures it
# trained were within 0.2 points of their final accuracy after 8 epochs. routing-all-fc's WPL step size and ρ are
# chosen on validation data by a coordinate sweep (7 points × 3 seeds, 4 epochs each, chosen by the mean over the
# seeds; the paper states neither step size nor how it swept): 1e-3, 1e-2, 1e-1 at ρ = 0.3 and ρ = 0, 0.1, 0.3, 0.6, 1
# at 1e-2 (Figure 12's question on MNIST-MTL). Session 11 swept one seed (seed 0); session 12 added seeds 1 and 2,
# since one seed chose the step size 0.1 by 0.24 points, and at that step size one of the three test seeds fell
# behind.
FULL = Config(profile="full", seeds=(0, 1, 2), epochs=8, architectures=FIG8, channels_last=True,
              sweep_wpl_lrs=(0.001, 0.01, 0.1), sweep_rhos=(0.0, 0.1, 0.3, 0.6, 1.0), sweep_seeds=(0, 1, 2))
PAPER_CIFAR = Config(profile="paper-cifar", seeds=(0, 1, 2), dataset="cifar-mtl", rho=0.0,
                     architectures=tuple(dict.fromkeys(FIG4 + FIG5 + FIG8)), cost_tasks=(2, 5, 10, 20),
                     first_n_tasks=(2, 3, 5, 10))
PAPER_MIN = Config(profile="paper-min", seeds=(0, 1, 2), dataset="min-mtl", rho=0.0,
                   architectures=tuple(dict.fromkeys(FIG8)), cost_tasks=(2, 5, 10))


def load_data(config: Config, root: str | os.PathLike | None = None) -> tuple[TaskData, TaskData]:
    """(train, test) TaskData of the configured dataset (all tasks have the same number of classes)."""
    return load_routing_data(config.dataset, root, data_seed=config.data_seed, n_pos=config.n_pos,
                             n_neg_per_digit=config.n_neg_per_digit, n_test_per_task=config.n_test_per_task)


#: Config fields that no stored unit depends on through the fingerprint: the sweep's points are units keyed by their
#: own settings (mtlnotes.routing.sweep.sweep_key), and a unit trained with swept settings carries them in its key.
SWEEP_FIELDS = ("sweep_architecture", "sweep_wpl_lrs", "sweep_rhos", "sweep_epochs", "sweep_seeds", "val_fraction",
                "n_val_per_task")

#: Config fields that no stored unit depends on through the fingerprint because the units they add carry them in
#: their keys: Figure 15's task counts ("<architecture>-first<n>-seed<s>").
UNIT_KEYED_FIELDS = ("first_n_tasks",)


def checkpoint_fingerprint(config: Config) -> dict:
    """What a checkpoint directory of ``config`` must agree on: the config without the time budget, the list of
    architectures, the sweep's fields (:data:`SWEEP_FIELDS`) and the fields whose units carry them in their keys
    (:data:`UNIT_KEYED_FIELDS`)."""
    fields = dataclasses.asdict(dataclasses.replace(config, time_budget_s=None, architectures=()))
    return {k: v for k, v in fields.items() if k not in SWEEP_FIELDS + UNIT_KEYED_FIELDS}


def run_sweep(config: Config, *, device: torch.device | str = "cpu", store: CheckpointStore | None = None,
              root=None) -> dict | None:
    """The validation sweep of ``config.sweep_architecture``'s router step size and ρ (see the Config's comment
    and :mod:`mtlnotes.routing.sweep`): the grid's rows, the chosen point, the split's sizes; None while another
    process holds a point (``store`` in skip mode)."""
    fit_part, val = load_routing_validation(config.dataset, root, data_seed=config.data_seed, n_pos=config.n_pos,
                                            n_neg_per_digit=config.n_neg_per_digit, val_fraction=config.val_fraction,
                                            n_val_per_task=config.n_val_per_task)
    grid = sweep_grid(config.sweep_wpl_lrs, config.sweep_rhos, config.wpl_lr, config.rho)
    rows = router_sweep(config.sweep_architecture, fit_part, val, config, grid, seeds=config.sweep_seeds,
                        epochs=config.sweep_epochs, device=device, store=store)
    if rows is None:
        return None
    chosen = best_setting(rows)
    return {"architecture": config.sweep_architecture, "seeds": list(config.sweep_seeds), "epochs": config.sweep_epochs,
            "sizes": {"train": len(fit_part), "validation": len(val)}, "base": {"wpl_lr": config.wpl_lr,
                                                                                 "rho": config.rho},
            "runs": rows, "chosen": {"wpl_lr": chosen["wpl_lr"], "rho": chosen["rho"]}}


def unit_key(name: str, seed: int, used: Config, config: Config, first_n: int | None = None) -> str:
    """The checkpoint key of ``name``'s test-set unit trained with ``used`` (``config`` with the swept router
    settings, or ``config`` itself): plain ``"{name}-seed{seed}"`` when the router settings are ``config``'s own;
    ``"{name}-first{n}-..."`` for a unit trained on the first ``first_n`` tasks only (Figure 15)."""
    name = name if first_n is None else f"{name}-first{first_n}"
    if (used.wpl_lr, used.rho) == (config.wpl_lr, config.rho):
        return f"{name}-seed{seed}"
    return f"{name}-lr{used.wpl_lr:g}-rho{used.rho:g}-seed{seed}"


def _train_unit(name: str, seed: int, used: Config, config: Config, train: TaskData, test: TaskData,
                device: torch.device | str, store: CheckpointStore, record: bool = False,
                first_n: int | None = None) -> dict | None:
    """One (architecture, seed) unit trained with ``used``'s settings under :func:`unit_key`: stored in ``store``
    (None while another process holds it, in skip mode), or, with a time budget, always trained (a partial unit is
    never stored as finished). ``train`` and ``test`` are already cut to the unit's tasks."""
    key = unit_key(name, seed, used, config, first_n)
    if config.time_budget_s is not None:
        return train_architecture(name, train, test, used, seed, device, store, record, key=key)
    return store.get_or_compute(key + "-done", lambda: train_architecture(name, train, test, used, seed, device,
                                                                          store, record, key=key))


def base_point_units(config: Config, train: TaskData, test: TaskData, device: torch.device | str,
                     store: CheckpointStore) -> dict[str, dict]:
    """The swept architecture trained at the sweep's base point (``config``'s own step size and ρ) on every seed,
    for comparison with the chosen point (the claims use the chosen point): {"seed<s>": curves and seconds}."""
    name, out = config.sweep_architecture, {}
    for seed in config.seeds:
        unit = _train_unit(name, seed, config, config, train, test, device, store)
        if unit is not None:
            out[f"seed{seed}"] = {k: unit[k] for k in ("seed", "test_accuracy", "per_task_accuracy", "epochs_run",
                                                       "train_seconds")}
    return out


def first_tasks_units(config: Config, tuned: Config | None, train: TaskData, test: TaskData,
                      device: torch.device | str, store: CheckpointStore) -> dict | None:
    """Figure 15's accuracy half ("Results on the first n tasks of CIFAR-MTL"; §4: routing "consistently perform[s]
    better than cross-stitch networks ... across all these problems"): each of :data:`COST_ARCHITECTURES` trained on
    the first n tasks only, for each n of ``config.first_n_tasks`` and every seed, with n blocks per layer and the
    settings of the main units (``tuned`` for the swept architecture; its units wait while ``tuned`` is None).
    ``{"tasks": [n...], "all_tasks": T, "units": {key: unit}}``, each unit its whole stored result (architecture,
    seed, test and per-task accuracy per epoch, the routing map of a routed unit, epochs_run, train_seconds) with
    ``n_tasks`` added, so that the routes can be read from the results file and the unit restored from it
    (:func:`checkpoint_units`); None when the configuration trains only one of the two architectures."""
    if not config.first_n_tasks or not set(COST_ARCHITECTURES) <= set(config.architectures):
        return None
    bad = [n for n in config.first_n_tasks if not 2 <= n < train.n_tasks]
    if bad:
        raise ValueError(f"first_n_tasks {bad} out of range: each n must lie between 2 and {train.n_tasks - 1} "
                         f"(all {train.n_tasks} tasks are the main units)")
    units = {}
    for n in config.first_n_tasks:
        part_train, part_test = train.first_tasks(n), test.first_tasks(n)
        for seed in config.seeds:
            for name in COST_ARCHITECTURES:
                used = tuned if name == config.sweep_architecture else config
                if used is None:
                    continue
                unit = _train_unit(name, seed, used, config, part_train, part_test, device, store, first_n=n)
                if unit is not None:
                    units[unit_key(name, seed, used, config, n)] = {**unit, "n_tasks": n}
    return {"tasks": list(config.first_n_tasks), "all_tasks": train.n_tasks, "units": units}


def checkpoint_units(doc: dict) -> dict[str, dict]:
    """The finished units of a results file written by the CLI (``doc``, loaded), as the checkpoint store holds
    them: ``{key: result}`` for the main units (``results.units``) and Figure 15's units on the first n tasks
    (``results.first_tasks.units`` without the ``n_tasks`` the results file adds); their store keys are these keys
    with ``"-done"``. For :func:`mtlnotes.unit_archive.restore_from_results` (``units=``), so that a fresh checkpoint
    directory resumes without training them again. Units of files written before the first-n units kept their
    whole result (no ``per_task_accuracy``) are left out: they cannot be restored."""
    results = doc["results"]
    units = {name: unit for name, unit in results["units"].items() if unit is not None}
    for name, unit in results.get("first_tasks", {}).get("units", {}).items():
        if "per_task_accuracy" in unit:
            units[name] = {k: v for k, v in unit.items() if k != "n_tasks"}
    return units


def run(config: Config, *, device: torch.device | str | None = None, checkpoint_dir=None, root=None) -> dict:
    """Train every configured architecture for every seed on the configured dataset (after the validation sweep
    of the router's settings, where the profile has one); plain-data results."""
    set_threads()
    make_deterministic(True)
    device = device or "cpu"
    store = CheckpointStore(checkpoint_dir, fingerprint=checkpoint_fingerprint(config))
    sweep = None
    tuned: Config | None = config
    if config.sweep_wpl_lrs or config.sweep_rhos:
        sweep = run_sweep(config, device=device, store=store, root=root)
        # an incomplete sweep (points held by a --worker process): the swept architecture waits for a later pass
        tuned = dataclasses.replace(config, **sweep["chosen"]) if sweep is not None else None
    train, test = load_data(config, root)
    units = {}
    for seed in config.seeds:
        for name in config.architectures:
            used = tuned if name == config.sweep_architecture else config
            if used is None:
                continue
            record = name == "routing-all-fc" and seed == config.seeds[0]
            units[unit_key(name, seed, used, config)] = _train_unit(name, seed, used, config, train, test, device,
                                                                    store, record)
    if sweep is not None and config.sweep_architecture in config.architectures and tuned != config:
        sweep["base_units"] = base_point_units(config, train, test, device, store)
    first_tasks = first_tasks_units(config, tuned, train, test, device, store)
    # Figures 13/15: CPU time (of this process) per training sample as tasks are added; a timing, so it varies
    # from run to run and its claims are judged from one measurement
    # measured COST_REPEATS times, interleaved, since one timing varies by ±15% between runs on this machine
    repeats = [{name: [step_cost(name, k, data=train, batches=config.cost_batches, clock=time.process_time)
                       for k in config.cost_tasks] for name in COST_ARCHITECTURES}
               for _ in range(COST_REPEATS)] if config.cost_tasks else []
    cost = {name: [float(np.median([rep[name][i] for rep in repeats])) for i in range(len(config.cost_tasks))]
            for name in COST_ARCHITECTURES} if repeats else {}
    return {"dataset": config.dataset, "task_names": list(train.task_names),
            "sizes": {"train": len(train), "test": len(test)},
            "majority_baseline": float(max((test.y == c).float().mean() for c in range(class_count(train)))),
            "units": units, "cost": {"tasks": list(config.cost_tasks), "seconds_per_sample": cost,
                                     "repeats": repeats},
            **({"router_sweep": sweep} if sweep is not None else {}),
            **({"first_tasks": first_tasks} if first_tasks is not None else {})}


#: How close (points) our accuracy after 100 epochs must be to Table 2's for "matches the paper".
TABLE2_TOLERANCE = 1.5

#: ρ values counted as "small" by the Figure 12 claim: up to the paper's own MNIST-MTL choice (§4: ρ = 0.3).
SMALL_RHO = 0.3

#: How many times the cost curve is measured (interleaved); the cost claims need every repeat to agree.
COST_REPEATS = 3

#: The architectures whose training cost Figures 13/15 compare.
COST_ARCHITECTURES = ("routing-all-fc", "cross-stitch-all-fc")


def cost_claims(cost: dict, config: Config) -> list[Claim]:
    """The paper's cost-scaling claims (abstract; §4 and Figures 13/15) judged from ``cost`` = ``run()``'s
    ``results["cost"]``: {"tasks": [k...], "seconds_per_sample": {architecture: [seconds per sample at each k]},
    "repeats": [the same dict, once per measurement]} (files before session 12 hold one measurement, no repeats).

    Per-task cost = time per training sample (the paper's per-epoch time / number of tasks). "Nearly constant"
    holds when routing's cost at the most tasks is at most 1.3× its cost at the fewest; "linear" holds when
    cross-stitch's grows by at least half the linear factor, 1 + (k_max/k_min − 1)/2; "cheaper" when routing
    costs at most 0.9× cross-stitch's per sample at the most tasks and does not hold above 1.1×. Each ratio is taken
    in every repeated measurement: a claim holds (does not hold) when every repeat says so, and is inconclusive
    when they disagree or, for "cheaper", when a ratio falls between 0.9 and 1.1 (single timings of the same runs on
    this machine ranged from 0.73 to 1.13)."""
    tasks = cost.get("tasks", [])
    reps = cost.get("repeats") or [cost.get("seconds_per_sample", {})]
    if len(tasks) < 2 or not all(set(COST_ARCHITECTURES) <= set(rep) for rep in reps):
        return []
    k0, k1 = tasks[0], tasks[-1]
    r_ratio = [rep["routing-all-fc"][-1] / rep["routing-all-fc"][0] for rep in reps]
    cs_ratio = [rep["cross-stitch-all-fc"][-1] / rep["cross-stitch-all-fc"][0] for rep in reps]
    rel = [rep["routing-all-fc"][-1] / rep["cross-stitch-all-fc"][-1] for rep in reps]
    linear = k1 / k0

    def agree(passes: list[bool], fails: list[bool]) -> bool | None:
        return True if all(passes) else False if all(fails) else None

    constant = agree([v <= 1.3 for v in r_ratio], [v > 1.3 for v in r_ratio])
    scales = agree([v >= 1 + (linear - 1) / 2 for v in cs_ratio], [v < 1 + (linear - 1) / 2 for v in cs_ratio])
    cheaper = agree([v <= 0.9 for v in rel], [v > 1.1 for v in rel])
    where = "abstract; §4 and Figures 13/15"
    note = (f"CPU time per training sample, {k0} vs {k1} tasks (one block per task per layer), "
            f"{len(reps)} measurement(s)")

    def shown(values: list[float]) -> str:
        return "" if len(values) == 1 else f" (each measurement: {', '.join(f'{v:.2f}' for v in values)})"

    return [
        Claim(CHAPTER, f"Routing networks have nearly constant per-task training cost as tasks are added (ours: "
                       f"routing-all-fc's cost at {k1} tasks / at {k0} tasks)", 1.0,
              round(float(np.median(r_ratio)), 2), constant, config.profile, source=where,
              inconclusive=constant is None, note=note + "; holds when ≤ 1.3" + shown(r_ratio)),
        Claim(CHAPTER, f"Cross-stitch networks' per-task training cost scales linearly with the number of tasks "
                       f"(ours: cross-stitch-all-fc's cost at {k1} tasks / at {k0} tasks)", round(linear, 2),
              round(float(np.median(cs_ratio)), 2), scales, config.profile, source=where,
              inconclusive=scales is None,
              note=note + f"; holds when ≥ {1 + (linear - 1) / 2:g} (half the linear growth)" + shown(cs_ratio)),
        Claim(CHAPTER, f"Routing trains cheaper than cross-stitch (85% less time on CIFAR-MTL, 20 tasks; ours: "
                       f"routing / cross-stitch cost per sample at {k1} tasks)", 0.15,
              round(float(np.median(rel)), 2), cheaper, config.profile, source="abstract; §4",
              inconclusive=cheaper is None,
              note=note + "; holds when ≤ 0.9, does not hold when > 1.1, inconclusive in between or when the "
                          "measurements disagree (timing noise)" + shown(rel)),
    ]


def final_accuracy(results: dict, name: str) -> list[float]:
    """Test accuracy after the last epoch run, one value per seed."""
    return [u["test_accuracy"][-1] for u in results["units"].values() if u["architecture"] == name]


def claims(results: dict, config: Config, *, timings: bool = False) -> list[Claim]:
    """Table 2 (MNIST-MTL rows, after 100 epochs) and the §4 orderings, at this profile; with ``timings`` (the
    CLI's results files) also the cost-scaling claims (:func:`cost_claims`) when ``results`` holds the cost
    measurement. Off by default: timings vary between runs, and a notebook's table must not."""
    cost = cost_claims(results["cost"], config) if timings and "cost" in results else []
    cost = first_tasks_claims(results, config) + cost
    if config.dataset != "mnist-mtl":
        return cost
    have = {u["architecture"] for u in results["units"].values()}
    epochs = {u["architecture"]: u["epochs_run"] for u in results["units"].values()}

    def acc(name):
        return round(100 * float(np.mean(final_accuracy(results, name))), 2) if name in have else None

    def at(name, epoch):  # {seed: test accuracy (%) after ``epoch`` epochs}
        return {u["seed"]: 100 * u["test_accuracy"][epoch - 1] for u in results["units"].values()
                if u["architecture"] == name}

    def common_epoch(names):  # orderings compare architectures after the same number of epochs
        return min(u["epochs_run"] for u in results["units"].values() if u["architecture"] in names)

    def paired(a, b, epoch):  # routing minus another architecture over their common seeds, in points
        xa, xb = at(a, epoch), at(b, epoch)
        seeds = sorted(set(xa) & set(xb))
        return compare([xa[s] for s in seeds], [xb[s] for s in seeds])

    out = []
    if "majority_baseline" in results:
        base = round(100 * float(results["majority_baseline"]), 2)
        out.append(Claim(CHAPTER, "On MNIST-MTL the random baseline (always answering 'not c') is 90% (%)", 90.0, base,
                         bool(abs(base - 90.0) <= 0.5), config.profile, source="§4, discussion of Figure 8",
                         note="share of the majority class in our test set"))
    for name, paper in TABLE2_MNIST.items():
        if name in have:
            # an equivalence test over seeds: the 95% t-interval of (ours - paper) wholly inside ±TABLE2_TOLERANCE
            # holds, wholly outside does not, otherwise (or with fewer than MIN_SEEDS seeds) inconclusive
            gap = mean_interval([100 * a - paper for a in final_accuracy(results, name)])
            judged = epochs[name] >= 100
            holds = gap.within(TABLE2_TOLERANCE) if judged else None
            out.append(Claim(CHAPTER, f"MNIST-MTL test accuracy of {name} after 100 epochs (%)", paper, acc(name),
                             holds, config.profile, source="Rosenbaum et al. (2018), Table 2 / Figure 8",
                             inconclusive=judged and holds is None,
                             note=f"{epochs[name]} epochs run; judged only after 100 epochs: holds when the 95% "
                                  f"t-interval of ours minus the paper over seeds lies within ±{TABLE2_TOLERANCE:g} "
                                  f"points, does not hold when outside; mean over {gap.n} seed(s), ours minus "
                                  f"paper {gap}"))
    seeds_note = (f"holds when the 95% paired t-interval over seeds lies above 0, does not hold when "
                  f"below, inconclusive when it contains 0 or with fewer than {MIN_SEEDS} seeds")
    if {"routing-all-fc", "task-specific-all-fc", "cross-stitch-all-fc"} <= have:
        e = common_epoch({"routing-all-fc", "task-specific-all-fc", "cross-stitch-all-fc"})
        for other, paper, label in (("task-specific-all-fc", 3.0, "the nearest baseline (task-specific-all-fc)"),
                                    ("cross-stitch-all-fc", 9.0, "cross-stitch-all-fc")):
            iv = paired("routing-all-fc", other, e)
            holds = iv.verdict("greater")
            ours = f"(ours: routing minus {other}, points)"
            out.append(Claim(CHAPTER, f"On MNIST-MTL routing-all-fc beats {label} {ours}", paper,
                             round(iv.mean, 2), holds, config.profile, source="§4, Figure 8",
                             inconclusive=holds is None,
                             note=f"after {e} epochs, the fewest any of the three ran; {iv}; {seeds_note}"))
            # the size of the gap is a claim about the end of training: judged only after 100 epochs, with
            # "about m points" read as "more than m/2 points" (Interval.exceeds)
            big = iv.exceeds(paper / 2) if e >= 100 else None
            out.append(Claim(CHAPTER, f"On MNIST-MTL routing-all-fc's lead over {other} is about {paper:g} points "
                                      f"at the end of training (100 epochs) {ours}",
                             paper, round(iv.mean, 2), big, config.profile, source="§4, Figure 8 / Table 2",
                             inconclusive=big is None and e >= 100,
                             note=f"after {e} epochs; {iv}; judged only after 100 epochs: holds when the paired "
                                  f"95% t-interval lies above {paper / 2:g} (half the paper's gap), does not hold "
                                  f"when below, inconclusive when it contains it"))
    for names, what, where in ((FIG4, "MARL:WPL (routing-all-fc) is the best of the RL algorithms of Figure 4",
                                "§4, Figure 4 (on CIFAR-MTL in the paper; MNIST-MTL here)"),
                               (FIG5, "routing-all-fc (per-task WPL agents) is the best routing architecture of "
                                      "Figure 5", "§4, Figure 5 (on CIFAR-MTL in the paper; MNIST-MTL here)")):
        if set(names) <= have:
            e = common_epoch(set(names))
            mean = {n: float(np.mean(list(at(n, e).values()))) for n in names}
            top = max(mean.values())
            best = [n for n in names if mean[n] == top]
            ours = best[0] if len(best) == 1 else "tie: " + ", ".join(best)
            leads = {n: paired("routing-all-fc", n, e) for n in names if n != "routing-all-fc"}
            holds = all_hold([iv.verdict("greater") for iv in leads.values()])
            out.append(Claim(CHAPTER, what + " (ours: the best one by mean accuracy, or the tied ones)",
                             "routing-all-fc", ours, holds, config.profile, source=where,
                             inconclusive=holds is None,
                             note=f"after {e} epochs; routing-all-fc minus " +
                                  "; ".join(f"{n} {iv} points" for n, iv in leads.items()) +
                                  f"; holds when routing-all-fc beats each of the others ({seeds_note})"))
    sweep = sweep_claims(results["router_sweep"], config) if "router_sweep" in results else []
    return out + sweep + cost


def first_tasks_claims(results: dict, config: Config) -> list[Claim]:
    """§4 and Figure 15: routing networks "consistently perform better than cross-stitch networks ... across all
    these problems" (the first 2, 3, 5 and 10 of CIFAR-MTL's tasks). Judged from ``results["first_tasks"]`` and the
    main units: for each number of tasks, routing-all-fc minus cross-stitch-all-fc paired over seeds after the same
    epoch; holds when routing is ahead at every n (each 95% interval above 0), does not hold when it is behind at
    some n, inconclusive otherwise (:func:`~mtlnotes.stats.all_hold`)."""
    acc, epoch = first_tasks_accuracy(results)
    routing, cross = COST_ARCHITECTURES
    if routing not in acc or cross not in acc:
        return []
    diffs = {}
    for n in sorted(set(acc[routing]) & set(acc[cross])):
        seeds = sorted(set(acc[routing][n]) & set(acc[cross][n]))
        diffs[n] = compare([acc[routing][n][s] for s in seeds], [acc[cross][n][s] for s in seeds])
    holds = all_hold([iv.verdict("greater") for iv in diffs.values()])
    return [Claim(CHAPTER, f"Routing networks perform better than cross-stitch networks on the first n tasks, at every "
                           f"n (ours: {routing} minus {cross} at n = {', '.join(map(str, diffs))}, points)",
                  "better at every n", ", ".join(f"{iv.mean:+.2f}" for iv in diffs.values()), holds, config.profile,
                  source="§4 and Figure 15 (the first 2, 3, 5, 10 of CIFAR-MTL's tasks in the paper; MNIST-MTL here)",
                  inconclusive=holds is None,
                  note=f"after {epoch} epochs, paired over seeds; " + "; ".join(f"n = {n}: {iv}"
                                                                              for n, iv in diffs.items()) +
                       f"; holds when every 95% interval lies above 0, does not hold when one lies below, "
                       f"inconclusive otherwise or with fewer than {MIN_SEEDS} seeds")]


def sweep_claims(sweep: dict, config: Config) -> list[Claim]:
    """Appendix 7.1 / Figure 12 judged from ``run()``'s ``results["router_sweep"]``: does ρ = 0 or a small value
    work best? At the base step size, the best small ρ (≤ :data:`SMALL_RHO`, the paper's own MNIST-MTL value) is
    compared with the best larger ρ (each the best by mean validation accuracy over the sweep's seeds), paired over
    seeds: holds when the 95% t-interval of the difference lies above 0, does not hold when below, inconclusive
    when it contains 0 or with fewer than :data:`~mtlnotes.stats.MIN_SEEDS` seeds (a sweep on one seed, as in the
    files of session 11, has no spread to judge against)."""
    rows = [r for r in sweep["runs"] if r["wpl_lr"] == sweep["base"]["wpl_lr"]]
    if len({r["rho"] for r in rows}) < 2:
        return []
    finals = {r["rho"]: 100 * r["val_accuracy"][-1] for r in rows}
    top = max(finals.values())
    best = sorted(rho for rho, acc in finals.items() if acc == top)
    ours = f"{best[0]:g}" if len(best) == 1 else "tie: " + ", ".join(f"{b:g}" for b in best)
    per_seed = {r["rho"]: r.get("val_accuracy_per_seed") for r in rows}
    seeds = sweep.get("seeds", [sweep.get("seed")])
    small = [rho for rho in finals if rho <= SMALL_RHO]
    large = [rho for rho in finals if rho > SMALL_RHO]
    holds, judged = None, ""
    if small and large and all(per_seed.values()):
        s_best, l_best = max(small, key=finals.get), max(large, key=finals.get)
        iv = compare([100 * per_seed[s_best][k][-1] for k in sorted(per_seed[s_best])],
                     [100 * per_seed[l_best][k][-1] for k in sorted(per_seed[l_best])])
        holds = iv.verdict("greater")
        judged = (f"; best small ρ ({s_best:g}) minus best larger ρ ({l_best:g}), paired over {iv.n} seeds: "
                  f"{iv.mean:+.2f} points, 95% interval [{iv.low:+.2f}, {iv.high:+.2f}]")
    return [Claim(CHAPTER, f"ρ = 0 or a small value works best for {sweep['architecture']} (WPL), with relatively "
                           f"little sensitivity in that range (ours: the ρ of the best mean validation accuracy, or "
                           f"the tied ones)", "0 or small", ours, holds, config.profile, inconclusive=holds is None,
                  source="Appendix 7.1, Figure 12 (CIFAR-MTL in the paper; MNIST-MTL here)",
                  note=f"ρ ∈ {sorted(finals)} at step size {sweep['base']['wpl_lr']:g}, {sweep['epochs']} epochs, "
                       f"{len(seeds)} seed(s) each: mean validation accuracy from {min(finals.values()):.2f}% to "
                       f"{top:.2f}%; small = ρ ≤ {SMALL_RHO:g}" + (judged or "; one seed gives no spread to judge "
                                                                     "the differences against"))]


def _task_counts(text: str) -> tuple[int, ...]:
    """``--first-n-tasks``: "none" (no Figure 15 units) or comma-separated task counts, each at least 2."""
    if text == "none":
        return ()
    counts = tuple(int(n) for n in text.split(","))
    if min(counts) < 2:
        raise ValueError(text)
    return counts


def main(argv=None):
    """The shared CLI plus ``--time-budget SECONDS``, ``--architectures a,b`` and ``--first-n-tasks 2,3,5|none``
    (each recorded in the config)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    changes = {}
    for flag, field, parse, wanted in (
            ("--time-budget", "time_budget_s", float, "seconds"),
            ("--architectures", "architectures", lambda s: tuple(s.split(",")), "a,b,c"),
            ("--first-n-tasks", "first_n_tasks", _task_counts, "task counts of at least 2, as 2,3,5, or none")):
        if flag in argv:
            i = argv.index(flag)
            try:
                changes[field] = parse(argv[i + 1])
            except (IndexError, ValueError):
                from mtlnotes.experiments.cli import usage_error

                usage_error("routing", f"{flag} needs a value ({wanted})")
            del argv[i:i + 2]
    profiles = {p.profile: dataclasses.replace(p, **changes) for p in (QUICK, FULL, PAPER, PAPER_CIFAR, PAPER_MIN)}
    return run_cli(CHAPTER, profiles, run, lambda res, cfg: claims(res, cfg, timings=True), argv)


if __name__ == "__main__":
    main()
