"""Chapter: Nash-MTL and gradient aggregation (Navon et al., 2022, "Multi-Task Learning as a Bargaining Game").

Three experiments, one per section of the chapter:

1. ``toy``: the two-objective problem on ℝ² of the paper's illustrative example (§6.1, Fig. 1; a variant of
   CAGrad's toy, first loss scaled by 0.1), optimised with Adam by every method from five starting points.
   Whether a run ends on the Pareto front is judged by Pareto-stationarity: the minimum norm of the convex
   hull of the two gradients at the final point (0 exactly on the front). The problem, its runner and Fig. 2's
   update directions live in :mod:`mtlnotes.weighting.toy`.
2. ``multimnist``: MultiMNIST (real MNIST) with the MultiLeNet trunk and two linear heads, every method, single-task
   baselines with the same code, per-task test accuracy at the epoch of best validation accuracy, Δm% and mean
   rank, time per epoch, peak tensor memory of one training step.
3. ``qm9`` / ``nyuv2`` (paper profile only): the paper's benchmarks (§6.2, Table 2; §6.3, Table 3): QM9's 11
   targets with the MPNN of :mod:`mtlnotes.models.mpnn` (:func:`run_qm9`), NYUv2's segmentation, depth and normals
   with SegNet-MTAN of :mod:`mtlnotes.models.segnet_mtan` (:func:`run_nyuv2`), every method and the single-task
   baselines with the same code. The loaders read the official formats (:mod:`mtlnotes.data.qm9`,
   :mod:`mtlnotes.data.nyuv2`, which also holds NYUv2's augmentation, losses and metrics); without the files the
   run stops, before any training, with a message naming what to download.

Δm% (Maninis et al., 2019; lower is better) and mean rank (MR; 1 = best) are :mod:`mtlnotes.weighting.metrics`.

``python -m mtlnotes.experiments.nash_mtl --profile quick --out results/nash_mtl-quick.json`` writes the book's file.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import load_mnist, multi_mnist, split_indices
from mtlnotes.data.mnist import ImageDataset
from mtlnotes.data.nyuv2 import NYUV2_METRICS, NYUv2Meter, nyuv2_losses, random_scale_crop
from mtlnotes.data.qm9 import qm9_splits
from mtlnotes.models import HardSharingNet, MultiLeNetEncoder
from mtlnotes.repro import seed_everything, torch_generator
from mtlnotes.results import Claim
from mtlnotes.stats import compare, mean_interval, verdict_word
from mtlnotes.training import Stopwatch, minibatches, predict, progress
from mtlnotes.weighting import METHODS, make_method
from mtlnotes.weighting import toy as toy_example
from mtlnotes.weighting.metrics import delta_m, mean_rank
from mtlnotes.weighting.toy import FIG2_GRADS, LOSS_WEIGHTINGS, TOY_STARTS, toy_losses, toy_summary
from mtlnotes.weighting.trainer import PeakMemory, multitask_step, shared_parameter_step

__all__ = ["main", "Config", "QUICK", "PAPER", "run", "claims", "toy_losses", "run_toy", "run_multimnist", "delta_m",
           "mean_rank", "TOY_STARTS", "LOSS_WEIGHTINGS", "toy_summary", "FIG2_GRADS", "update_directions",
           "update_frequency_study", "update_frequency_rows", "PAPER_QM9", "PAPER_NYUV2",
           "run_qm9", "run_nyuv2", "qm9_splits", "nyuv2_losses", "NYUv2Meter", "NYUV2_METRICS", "random_scale_crop"]

CHAPTER = "nash_mtl"

#: The paper's QM9 table (Navon et al., 2022, Table 2: MR and Δm%, mean ± std over 3 seeds).
PAPER_QM9 = {"LS": (6.8, 177.6), "SI": (4.0, 77.8), "RLW": (8.2, 203.8), "DWA": (6.4, 175.3), "UW": (5.3, 108.0),
             "MGDA": (5.9, 120.5), "PCGrad": (5.0, 125.7), "CAGrad": (5.7, 112.8), "IMTL-G": (4.7, 77.2),
             "Nash-MTL": (2.5, 62.0)}
#: The paper's NYUv2 table (Navon et al., 2022, Table 3: MR and Δm%).
PAPER_NYUV2 = {"LS": (8.11, 5.59), "SI": (7.11, 4.39), "RLW": (10.11, 7.78), "DWA": (6.88, 3.57), "UW": (6.44, 4.05),
               "MGDA": (5.44, 1.38), "PCGrad": (6.88, 3.97), "GradDrop": (6.44, 3.58), "CAGrad": (3.77, 0.20),
               "IMTL-G": (3.11, -0.76), "Nash-MTL": (1.55, -4.04)}


@dataclass(frozen=True)
class Config:
    profile: str
    seeds: tuple[int, ...]
    methods: tuple[str, ...] = METHODS
    # --- illustrative example (§6.1; official toy: Adam, lr 1e-3, 35k steps, first loss × 0.1)
    toy_steps: int = 35_000
    toy_lr: float = 1e-3
    toy_scale: float = 0.1
    toy_record_every: int = 50
    toy_stationary_tol: float = 1e-3   # min-norm of the gradient hull below this: "on the Pareto front"
    # --- MultiMNIST (Sener & Koltun, 2018 setting; MultiLeNet trunk)
    mm_train: int = 54_000           # MultiMNIST training images (built from 90% of MNIST train)
    mm_val: int = 6_000              # validation images (from the other 10% of MNIST train)
    mm_test: int = 10_000            # test images (from MNIST test)
    mm_epochs: int = 50
    mm_batch: int = 256
    mm_lr: float = 1e-3              # Adam
    mm_hidden: int = 50
    gradient_engine: str = "vmap"          # as the stored quick results were computed. "auto" (layerwise) takes
                                           # about 0.6x the time at MultiMNIST's K = 2 on the CPU (vmap about 1x,
                                           # benchmarks/gradients_engine.py) but rounds differently, so switching
                                           # changes every trained number after the first step
    # --- method hyper-parameters (Navon et al., 2022, App. and official defaults)
    cagrad_c: float = 0.4
    nash_max_norm: float = 1.0
    nash_update_every: int = 1
    # --- paper benchmarks (§6.2 QM9, §6.3 NYUv2); run only where the data is present
    datasets: tuple[str, ...] = ("toy", "multimnist")
    # QM9 (§6.2, App. C; the official code's PyG example setting): MPNN with dim 64, Adam lr 1e-3, batch 120,
    # 300 epochs, ReduceLROnPlateau(factor 0.7, patience 5, min lr 1e-5) on the validation loss, targets
    # standardised with the training mean/std; 10,000 test and 10,000 validation molecules, the rest train.
    qm9_methods: tuple[str, ...] = ("LS", "SI", "RLW", "DWA", "UW", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL")
    qm9_epochs: int = 300
    qm9_batch: int = 120
    qm9_lr: float = 1e-3
    qm9_dim: int = 64
    qm9_val: int = 10_000
    qm9_test: int = 10_000
    qm9_limit: int | None = None     # read only this many molecules (None: all)
    # NYUv2 (§6.3, App. C; MTAN's setting): SegNet-MTAN, Adam lr 1e-4 halved after 100 epochs, batch 2,
    # 200 epochs, random scale-crop augmentation. The paper selects on the test split; we hold out nyu_val
    # training images for model selection instead.
    nyu_epochs: int = 200
    nyu_batch: int = 2
    nyu_lr: float = 1e-4
    nyu_lr_step: int = 100
    nyu_val: int = 95
    nyu_filters: tuple[int, ...] = (64, 128, 256, 512, 512)
    nyu_augment: bool = True
    paper_gradient_engine: str = "reference"  # per_task_gradients engine for QM9 / NYUv2 (see mtlnotes.gradients)

    def __post_init__(self) -> None:
        unknown = (set(self.methods) | set(self.qm9_methods)) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
        if not self.seeds:
            raise ValueError("need at least one seed")


QUICK = Config(profile="quick", seeds=(0, 1, 2), toy_steps=600, toy_lr=5e-2, toy_record_every=10,
               mm_train=1200, mm_val=400, mm_test=1000, mm_epochs=3, mm_batch=100, mm_lr=2e-3)
PAPER = Config(profile="paper", seeds=(0, 1, 2), datasets=("toy", "multimnist", "qm9", "nyuv2"))


# ----------------------------------------------------------------------------- 1. the illustrative example
def run_toy(config: Config, methods: tuple[str, ...] | None = None) -> dict:
    """:func:`mtlnotes.weighting.toy.run_toy` with the profile's settings: trajectories (every
    ``toy_record_every`` steps) of each method from each start, final losses and final Pareto-stationarity
    (min-norm of the gradients' convex hull)."""
    methods = methods or config.methods
    return toy_example.run_toy(methods, steps=config.toy_steps, lr=config.toy_lr, scale=config.toy_scale,
                               record_every=config.toy_record_every, stationary_tol=config.toy_stationary_tol,
                               method_kwargs={name: _method_kwargs(name, config) for name in methods})


def update_directions(grads: torch.Tensor | Sequence[Sequence[float]],
                      methods: tuple[str, ...] = ("LS", "MGDA", "PCGrad", "CAGrad", "IMTL-G", "Nash-MTL"),
                      config: Config | None = None) -> dict[str, torch.Tensor]:
    """Fig. 2: :func:`mtlnotes.weighting.toy.update_directions` with the hyper-parameters of ``config``
    (default :data:`QUICK`): the update direction (d,) each method returns for the gradients ``grads`` (K, d)."""
    config = config or QUICK
    return toy_example.update_directions(grads, methods, {name: _method_kwargs(name, config) for name in methods})


def _method_kwargs(name: str, config: Config) -> dict:
    if name == "CAGrad":
        return {"c": config.cagrad_c}
    if name == "Nash-MTL":
        return {"max_norm": config.nash_max_norm, "update_every": config.nash_update_every}
    return {}


# ----------------------------------------------------------------------------- 2. MultiMNIST
def _multimnist_data(config: Config, root=None):
    train, test = load_mnist("train", root, download=False), load_mnist("test", root, download=False)
    tr_idx, va_idx = split_indices(len(train), (0.9, 0.1), seed=0)
    sub = lambda d, i: ImageDataset(d.images[i], d.labels[i], d.name)  # noqa: E731
    return (multi_mnist(sub(train, tr_idx), config.mm_train, seed=1),
            multi_mnist(sub(train, va_idx), config.mm_val, seed=2),
            multi_mnist(test, config.mm_test, seed=3))


def _new_model(config: Config, n_heads: int) -> HardSharingNet:
    return HardSharingNet(MultiLeNetEncoder(config.mm_hidden), [nn.Linear(config.mm_hidden, 10) for _ in range(n_heads)])


def _accuracies(model: HardSharingNet, data, tasks: list[int], device) -> list[float]:
    outs = predict(model, data.x, batch_size=2048, device=device)
    return [float((o.argmax(1) == data.y[:, t]).float().mean()) for o, t in zip(outs, tasks)]


def _train(config: Config, method_name: str, tasks: list[int], data, seed: int, device) -> dict:
    """Train one model (a hard-sharing net with a head per task in ``tasks``) and select on validation."""
    train, val, test = data
    seed_everything(seed)
    model = _new_model(config, len(tasks)).to(device)
    method = make_method(method_name, len(tasks), seed=seed, **_method_kwargs(method_name, config))
    opt = torch.optim.Adam(list(model.parameters()) + method.parameters(), lr=config.mm_lr)
    gen = torch_generator(seed)
    ce = nn.functional.cross_entropy
    best, best_state, curve, sw = -1.0, None, [], Stopwatch()
    x_all, y_all = train.x.to(device), train.y.to(device)
    for epoch in range(config.mm_epochs):
        model.train()
        totals = torch.zeros(len(tasks), dtype=torch.float64)
        n_batches = 0
        with sw:
            for idx in minibatches(len(train), config.mm_batch, gen):
                xb, yb = x_all[idx], y_all[idx]
                losses, _ = multitask_step(model, method, xb, [yb[:, t] for t in tasks], [ce] * len(tasks), opt,
                                           gradient_engine=config.gradient_engine)
                totals += losses.double().cpu()
                n_batches += 1
            method.end_epoch(totals / n_batches)
        model.eval()
        val_acc = _accuracies(model, val, tasks, device)
        curve.append({"epoch": epoch + 1, "train_loss": (totals / n_batches).tolist(), "val_acc": val_acc})
        if float(np.mean(val_acc)) > best:
            best, best_epoch, best_state = float(np.mean(val_acc)), epoch + 1, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    test_acc = _accuracies(model, test, tasks, device)
    # peak tensor memory of one training step, on a fresh copy (does not touch the trained model)
    probe = _new_model(config, len(tasks)).to(device)
    probe_method = make_method(method_name, len(tasks), seed=seed, **_method_kwargs(method_name, config))
    probe_opt = torch.optim.Adam(list(probe.parameters()) + probe_method.parameters(), lr=config.mm_lr)
    idx = torch.arange(min(config.mm_batch, len(train)))
    with PeakMemory() as mem:
        multitask_step(probe, probe_method, x_all[idx], [y_all[idx][:, t] for t in tasks], [ce] * len(tasks),
                       probe_opt, gradient_engine=config.gradient_engine)
    return {"test_acc": test_acc, "best_epoch": best_epoch, "best_val_acc": best, "curve": curve,
            "time_per_epoch_s": sw.seconds / config.mm_epochs, "peak_step_memory_bytes": int(mem.peak)}


def run_multimnist(config: Config, device=None, store: CheckpointStore | None = None) -> dict:
    device = device or torch.device("cpu")
    store = store or CheckpointStore(None)
    data = _multimnist_data(config)
    n_tasks = 2
    units = [(m, list(range(n_tasks))) for m in config.methods] + [(f"STL-{t}", [t]) for t in range(n_tasks)]
    raw: dict[str, list[dict]] = {}
    for name, tasks in progress(units, desc="MultiMNIST"):
        method = "LS" if name.startswith("STL") else name
        raw[name] = [store.get_or_compute(f"mm-{name}-seed{s}", lambda s=s, m=method, t=tasks:
                                          _train(config, m, t, data, s, device)) for s in config.seeds]
    stl = [float(np.mean([r["test_acc"][0] for r in raw[f"STL-{t}"]])) for t in range(n_tasks)]
    mean_acc = {m: [float(np.mean([r["test_acc"][t] for r in raw[m]])) for t in range(n_tasks)] for m in config.methods}
    hib = [True] * n_tasks
    dm_per_seed = {m: [delta_m({m: r["test_acc"]}, stl, hib)[m] for r in raw[m]] for m in config.methods}
    return {
        "task_names": ["left", "right"],
        "sizes": {"train": config.mm_train, "val": config.mm_val, "test": config.mm_test},
        "runs": raw,
        "stl_test_acc": stl,
        "mean_test_acc": mean_acc,
        "delta_m": delta_m(mean_acc, stl, hib),
        "delta_m_std": {m: float(np.std(v)) for m, v in dm_per_seed.items()},
        "delta_m_per_seed": dm_per_seed,
        "mean_rank_per_seed": [mean_rank({m: raw[m][i]["test_acc"] for m in config.methods}, hib)
                               for i in range(len(config.seeds))],
        "mean_rank": mean_rank(mean_acc, hib),
        "time_per_epoch_s": {m: float(np.mean([r["time_per_epoch_s"] for r in raw[m]])) for m in raw},
        "peak_step_memory_bytes": {m: int(raw[m][0]["peak_step_memory_bytes"]) for m in raw},
    }


def update_frequency_study(config: Config, every: tuple[int, ...] = (1, 3, 12), device=None,
                           stl_test_acc: list[float] | None = None) -> dict:
    """Nash-MTL solving for α only every N steps and reusing it in between (Navon et al. §4, "practical
    speedup"), on MultiMNIST: per N, the mean time per epoch and Δm% (Eq. 8, against the single-task
    baselines ``stl_test_acc``, trained here when not given) over ``config.seeds``.

    Steps between solves reuse α with one backward pass of Σ α_k ℓ_k instead of K per-task gradients, which is
    where the time goes at small K (the solve itself is a closed form at K = 2)."""
    if not every or any(n < 1 for n in every):
        raise ValueError(f"every must be a non-empty tuple of step counts >= 1, got {every!r}")
    data = _multimnist_data(config)
    device = device or torch.device("cpu")
    if stl_test_acc is None:
        stl_test_acc = [float(np.mean([_train(config, "LS", [t], data, s, device)["test_acc"][0]
                                       for s in config.seeds])) for t in range(2)]
    out = {}
    for n in every:
        cfg = dataclasses.replace(config, nash_update_every=n)
        runs = [_train(cfg, "Nash-MTL", [0, 1], data, s, device) for s in config.seeds]
        dm = [delta_m({"Nash-MTL": r["test_acc"]}, stl_test_acc, [True, True])["Nash-MTL"] for r in runs]
        out[n] = {"time_per_epoch_s": float(np.mean([r["time_per_epoch_s"] for r in runs])),
                  "delta_m_per_seed": dm, "delta_m": float(np.mean(dm)),
                  "mean_test_acc": [float(np.mean([r["test_acc"][t] for r in runs])) for t in range(2)]}
    return out


def update_frequency_rows(freq: dict) -> dict[str, dict]:
    """The table of :func:`update_frequency_study`'s result: per N, the mean Δm% with its 95% t-interval over
    seeds, and against N = 1 the paired difference and whether solving less often is worse beyond the seed
    spread (holds / does not hold / inconclusive)."""
    if 1 not in freq:
        raise ValueError(f"the update-frequency table compares with N = 1, which is missing (got N = {sorted(freq)})")
    rows = {}
    for n, r in freq.items():
        iv = mean_interval(r["delta_m_per_seed"])
        vs_one = compare(r["delta_m_per_seed"], freq[1]["delta_m_per_seed"])  # paired seeds
        rows[f"every {n} step(s)"] = {"Δm% (mean)": round(iv.mean, 2),
                                      "95% interval": f"[{iv.low:.2f}, {iv.high:.2f}]",
                                      "Δm% − Δm%(N=1)": round(vs_one.mean, 2) if n != 1 else "—",
                                      "worse than N=1?": verdict_word(vs_one.verdict("greater")) if n != 1 else "—"}
    return rows


# ----------------------------------------------------------------------------- 3. paper benchmarks: QM9, NYUv2
def _train_paper_model(config: Config, method_name: str, n_tasks: int, model: nn.Module, shared, task_params,
                       train_batches, compute_losses, evaluate, select_key, optimizer, scheduler, epochs: int,
                       seed: int, scheduler_on_val: bool) -> dict:
    """The loop both paper benchmarks share: ``epochs`` epochs of :func:`shared_parameter_step` over
    ``train_batches(epoch)``, evaluation after each epoch, the epoch with the best validation score
    (``evaluate("val")[select_key]``, lower is better) kept and evaluated on test."""
    method = make_method(method_name, n_tasks, seed=seed, **_method_kwargs(method_name, config))
    if method.parameters():
        optimizer.add_param_group({"params": method.parameters()})
    best, best_state, best_epoch, curve, sw = math.inf, None, 0, [], Stopwatch()
    for epoch in range(epochs):
        model.train()
        totals, n_batches = torch.zeros(n_tasks, dtype=torch.float64), 0
        with sw:
            for batch in train_batches(epoch):
                losses, _ = shared_parameter_step(lambda b=batch: compute_losses(b), shared, task_params, method,
                                                  optimizer, gradient_engine=config.paper_gradient_engine)
                totals += losses.double().cpu()
                n_batches += 1
            method.end_epoch(totals / max(n_batches, 1))
        model.eval()
        val = evaluate("val")
        curve.append({"epoch": epoch + 1, "train_loss": (totals / max(n_batches, 1)).tolist(), "val": val})
        if scheduler is not None:
            scheduler.step(val["loss"]) if scheduler_on_val else scheduler.step()
        if val[select_key] < best:
            best, best_epoch, best_state = val[select_key], epoch + 1, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return {"test": evaluate("test"), "best_epoch": best_epoch, "best_val": best, "curve": curve,
            "time_per_epoch_s": sw.seconds / max(epochs, 1)}


def run_qm9(config: Config, device=None, store: CheckpointStore | None = None, data=None) -> dict:
    """QM9 (§6.2): the 11 targets of :data:`mtlnotes.data.qm9.TASKS` with the MPNN of :mod:`mtlnotes.models.mpnn`
    (shared encoder, a linear head per target), every method of ``config.qm9_methods`` and the 11 single-task
    baselines, ``config.seeds``. Metric: test MAE per target in the file's units at the epoch of lowest validation
    loss; Δm% against the single-task MAEs (all lower-is-better) and mean rank. ``data``: a
    :class:`mtlnotes.data.qm9.QM9Data` (default: :func:`mtlnotes.data.qm9.load_qm9` from the data cache)."""
    from mtlnotes.data.qm9 import TASKS, load_qm9
    from mtlnotes.models.mpnn import MPNNEncoder, collate_graphs, molecule_graph

    device = device or torch.device("cpu")
    store = store or CheckpointStore(None)
    data = data if data is not None else load_qm9(limit=config.qm9_limit)
    graphs = [molecule_graph(m.z, m.pos) for m in data.molecules]
    split = qm9_splits(len(graphs), config.qm9_val, config.qm9_test)
    y = data.y.float()
    mean, std = y[split["train"]].mean(0), y[split["train"]].std(0).clamp(min=1e-12)
    y_norm = (y - mean) / std
    n_tasks = len(TASKS)

    def batches(idx: torch.Tensor, gen=None):
        order = idx[torch.randperm(len(idx), generator=gen)] if gen is not None else idx
        for start in range(0, len(order), config.qm9_batch):
            sel = order[start:start + config.qm9_batch]
            yield collate_graphs([graphs[int(i)] for i in sel]).to(device), y_norm[sel].to(device)

    def one(method_name: str, tasks: list[int], seed: int) -> dict:
        seed_everything(seed)
        model = HardSharingNet(MPNNEncoder(dim=config.qm9_dim), [nn.Linear(config.qm9_dim, 1) for _ in tasks]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.qm9_lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.7, patience=5, min_lr=1e-5)
        gen = torch_generator(seed)
        cols = torch.tensor(tasks)

        def compute_losses(batch):
            g, yb = batch
            z = model.trunk(g)
            return torch.stack([nn.functional.mse_loss(head(z).squeeze(-1), yb[:, c]) for head, c in zip(model.heads, tasks)])

        def evaluate(part: str) -> dict:
            abs_err, sq, n = torch.zeros(len(tasks), dtype=torch.float64), torch.zeros(len(tasks), dtype=torch.float64), 0
            with torch.no_grad():
                for g, yb in batches(split[part]):
                    pred = torch.cat([h(model.trunk(g)) for h in model.heads], dim=1).cpu().double()
                    target = yb[:, cols].cpu().double()
                    abs_err += ((pred - target).abs() * std[cols].double()).sum(0)
                    sq += ((pred - target) ** 2).sum(0)
                    n += len(target)
            return {"mae": (abs_err / n).tolist(), "loss": float((sq / n).mean())}

        return _train_paper_model(config, method_name, len(tasks), model, model.shared_parameters(),
                                  [list(h.parameters()) for h in model.heads],
                                  lambda epoch: batches(split["train"], gen), compute_losses, evaluate, "loss", opt,
                                  sched, config.qm9_epochs, seed, scheduler_on_val=True)

    units = [(m, list(range(n_tasks))) for m in config.qm9_methods] + [(f"STL-{TASKS[t]}", [t]) for t in range(n_tasks)]
    raw = {}
    for name, tasks in progress(units, desc="QM9"):
        method = "LS" if name.startswith("STL") else name
        raw[name] = [store.get_or_compute(f"qm9-{name}-seed{s}", lambda s=s, m=method, t=tasks: one(m, t, s))
                     for s in config.seeds]
    stl = [float(np.mean([r["test"]["mae"][0] for r in raw[f"STL-{t}"]])) for t in TASKS]
    mae = {m: [float(np.mean([r["test"]["mae"][t] for r in raw[m]])) for t in range(n_tasks)] for m in config.qm9_methods}
    lower = [False] * n_tasks
    return {"task_names": list(TASKS), "sizes": {k: len(v) for k, v in split.items()}, "runs": raw,
            "stl_test_mae": stl, "mean_test_mae": mae, "delta_m": delta_m(mae, stl, lower),
            "delta_m_std": {m: float(np.std([delta_m({m: r["test"]["mae"]}, stl, lower)[m] for r in raw[m]]))
                            for m in config.qm9_methods},
            "mean_rank": mean_rank(mae, lower),
            "time_per_epoch_s": {m: float(np.mean([r["time_per_epoch_s"] for r in raw[m]])) for m in raw}}


def run_nyuv2(config: Config, device=None, store: CheckpointStore | None = None, data=None) -> dict:
    """NYUv2 (§6.3): segmentation (13 classes), depth and surface normals with SegNet-MTAN
    (:mod:`mtlnotes.models.segnet_mtan`), every method and the three single-task baselines (the same network with
    one task). The last ``config.nyu_val`` training images are held out for model selection (the epoch with the lowest
    summed validation loss; the paper has no validation split); the nine metrics of Table 3 on the test
    split ("val" folder of MTAN's release), Δm% against the single-task models and mean rank.
    ``data``: (train, test) :class:`mtlnotes.data.nyuv2.NYUv2` splits (default: the data cache)."""
    from mtlnotes.data.nyuv2 import NYUv2
    from mtlnotes.models.segnet_mtan import NYUV2_TASKS, SegNetMTAN

    device = device or torch.device("cpu")
    store = store or CheckpointStore(None)
    train_ds, test_ds = data if data is not None else (NYUv2("train"), NYUv2("val"))
    n_train = len(train_ds) - config.nyu_val
    if n_train < 1 or config.nyu_val < 1:
        raise ValueError(f"cannot hold out {config.nyu_val} of {len(train_ds)} training images for validation")
    stack = lambda ds, idx: [torch.stack(t) for t in zip(*(ds[i] for i in idx))]  # noqa: E731
    parts = {"train": stack(train_ds, range(n_train)), "val": stack(train_ds, range(n_train, len(train_ds))),
             "test": stack(test_ds, range(len(test_ds)))}

    def one(method_name: str, tasks: tuple[str, ...], seed: int) -> dict:
        seed_everything(seed)
        model = SegNetMTAN(tasks, filters=config.nyu_filters).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.nyu_lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.nyu_lr_step, gamma=0.5)
        gen = torch_generator(seed)

        def train_batches(epoch):
            x, lab, dep, nor = parts["train"]
            for idx in minibatches(len(x), config.nyu_batch, gen):
                b = (x[idx], lab[idx], dep[idx], nor[idx])
                if config.nyu_augment:
                    b = random_scale_crop(*b, generator=gen)
                yield tuple(t.to(device) for t in b)

        def compute_losses(batch):
            x, lab, dep, nor = batch
            return nyuv2_losses(model(x), lab, dep, nor, tasks)

        def evaluate(part: str) -> dict:
            meter, loss, n = NYUv2Meter(), torch.zeros(len(tasks), dtype=torch.float64), 0
            x, lab, dep, nor = parts[part]
            with torch.no_grad():
                for start in range(0, len(x), config.nyu_batch):
                    b = [t[start:start + config.nyu_batch].to(device) for t in (x, lab, dep, nor)]
                    outs = model(b[0])
                    loss += nyuv2_losses(outs, b[1], b[2], b[3], tasks).double().cpu() * len(b[0])
                    n += len(b[0])
                    o = dict(zip(tasks, outs))
                    meter.update(o.get("segmentation"), b[1], o.get("depth"), b[2], o.get("normal"), b[3])
            return {**meter.result(), "loss": float(loss.sum() / n)}

        return _train_paper_model(config, method_name, len(tasks), model, model.shared_parameters(),
                                  [model.task_parameters(k) for k in range(len(tasks))], train_batches, compute_losses,
                                  evaluate, "loss", opt, sched, config.nyu_epochs, seed, scheduler_on_val=False)

    units = [(m, NYUV2_TASKS) for m in config.methods] + [(f"STL-{t}", (t,)) for t in NYUV2_TASKS]
    raw = {}
    for name, tasks in progress(units, desc="NYUv2"):
        method = "LS" if name.startswith("STL") else name
        raw[name] = [store.get_or_compute(f"nyuv2-{name}-seed{s}", lambda s=s, m=method, t=tasks: one(m, t, s))
                     for s in config.seeds]
    names = [n for n, _ in NYUV2_METRICS]
    hib = [h for _, h in NYUV2_METRICS]
    avg = lambda runs, key: float(np.mean([r["test"][key] for r in runs]))  # noqa: E731
    stl_task = {"mIoU": "segmentation", "pix_acc": "segmentation", "abs_err": "depth", "rel_err": "depth"}
    stl = [avg(raw[f"STL-{stl_task.get(k, 'normal')}"], k) for k in names]
    values = {m: [avg(raw[m], k) for k in names] for m in config.methods}
    return {"metric_names": names, "higher_is_better": hib, "sizes": {k: len(v[0]) for k, v in parts.items()},
            "runs": raw, "stl_test": stl, "mean_test": values, "delta_m": delta_m(values, stl, hib),
            "delta_m_std": {m: float(np.std([delta_m({m: [r["test"][k] for k in names]}, stl, hib)[m] for r in raw[m]]))
                            for m in config.methods},
            "mean_rank": mean_rank(values, hib),
            "time_per_epoch_s": {m: float(np.mean([r["time_per_epoch_s"] for r in raw[m]])) for m in raw}}


# ----------------------------------------------------------------------------- run / claims
def run(config: Config, *, device: torch.device | str | None = None, checkpoint_dir=None) -> dict:
    """Every experiment the profile names; plain data (see the module docstring)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    store = CheckpointStore(checkpoint_dir, fingerprint=dataclasses.asdict(config))
    results: dict = {}
    if "qm9" in config.datasets or "nyuv2" in config.datasets:
        _require_paper_data(config)  # fail early, before hours of other work, naming what is missing
    if "toy" in config.datasets:
        results["toy"] = store.get_or_compute("toy", lambda: run_toy(config))
    if "multimnist" in config.datasets:
        results["multimnist"] = run_multimnist(config, device, store)
    if "qm9" in config.datasets:
        results["qm9"] = run_qm9(config, device, store)
    if "nyuv2" in config.datasets:
        results["nyuv2"] = run_nyuv2(config, device, store)
    return results


def _require_paper_data(config: Config) -> None:
    if "qm9" in config.datasets:
        from mtlnotes.data.qm9 import QM9_UNCHARACTERIZED, qm9_path
        from mtlnotes.data.cache import fetch
        qm9_path()
        fetch(QM9_UNCHARACTERIZED, None, download=False)
    if "nyuv2" in config.datasets:
        from mtlnotes.data.nyuv2 import nyuv2_root
        nyuv2_root()


def claims(results: dict, config: Config) -> list[Claim]:
    out = []
    toy = results.get("toy")
    if toy and "Nash-MTL" in toy:
        reached = sum(r["on_front"] for r in toy["Nash-MTL"])
        out.append(Claim(CHAPTER, "Illustrative example: Nash-MTL reaches the Pareto front from every starting point",
                         paper=f"{len(TOY_STARTS)}/{len(TOY_STARTS)} starts (our reading of Fig. 1)", ours=f"{reached}/{len(toy['Nash-MTL'])}",
                         holds=reached == len(toy["Nash-MTL"]), profile=config.profile, source="§6.1, Fig. 1",
                         note=f"on the front = min-norm of the gradient hull <= {config.toy_stationary_tol}; "
                              f"{config.toy_steps} Adam steps at lr {config.toy_lr}"))
    mm = results.get("multimnist")
    if mm and "Nash-MTL" in mm["mean_rank"]:
        mr = mm["mean_rank"]
        best = min(mr.values())
        rival = min((m for m in mr if m != "Nash-MTL"), key=mr.get, default=None)
        note = "MultiMNIST is a different, 2-task benchmark; the paper's tables are QM9 and NYUv2"
        holds = mr["Nash-MTL"] == best
        if rival is not None and "mean_rank_per_seed" in mm:  # per-seed ranks, paired: ahead of the best rival?
            ranks = mm["mean_rank_per_seed"]
            iv = compare([r["Nash-MTL"] for r in ranks], [r[rival] for r in ranks])
            holds = iv.verdict("less")
            note += (f"; per-seed MR of Nash-MTL minus {rival}'s: 95% interval [{iv.low:+.2f}, {iv.high:+.2f}] over "
                     f"{iv.n} seeds")
        out.append(Claim(CHAPTER, "Nash-MTL has the best mean rank among the compared methods (as on QM9, NYUv2)",
                         paper="MR 2.5 (QM9), 1.55 (NYUv2): best", ours=f"MR {mr['Nash-MTL']:.2f} on MultiMNIST "
                         f"(best {best:.2f}, {min(mr, key=mr.get)})", holds=holds,
                         profile=config.profile, source="Tables 2, 3", note=note,
                         inconclusive=holds is None and "mean_rank_per_seed" in mm))
        dm = mm["delta_m"]
        holds, note = ((dm["Nash-MTL"] < dm["LS"]) if "LS" in dm else None), ""
        if "LS" in dm and "delta_m_per_seed" in mm:  # paired seeds
            iv = compare(mm["delta_m_per_seed"]["Nash-MTL"], mm["delta_m_per_seed"]["LS"])
            holds = iv.verdict("less")
            note = (f"Δm% of Nash-MTL minus LS's per seed: 95% interval [{iv.low:+.2f}, {iv.high:+.2f}] over {iv.n} "
                    "seeds")
        out.append(Claim(CHAPTER, "Nash-MTL's Δm% is lower than LS's", paper="62.0 vs 177.6 (QM9); −4.04 vs 5.59 (NYUv2)",
                         ours=f"{dm['Nash-MTL']:.3g} vs {dm['LS']:.3g} (MultiMNIST)" if "LS" in dm else None,
                         holds=holds, profile=config.profile, source="Tables 2, 3", note=note,
                         inconclusive=holds is None and "LS" in dm and "delta_m_per_seed" in mm))
    for name, table, src in (("qm9", PAPER_QM9, "Table 2"), ("nyuv2", PAPER_NYUV2, "Table 3")):
        res = results.get(name)
        mr, dm = table["Nash-MTL"]
        ours, holds = None, None
        if res is not None and "Nash-MTL" in res["mean_rank"]:
            ours = f"MR {res['mean_rank']['Nash-MTL']:.2f}, Δm {res['delta_m']['Nash-MTL']:.3g}"
            holds = (res["mean_rank"]["Nash-MTL"] == min(res["mean_rank"].values())
                     and res["delta_m"]["Nash-MTL"] == min(res["delta_m"].values()))
        out.append(Claim(CHAPTER, f"{name.upper()}: Nash-MTL has the best MR and Δm%", paper=f"MR {mr}, Δm {dm}",
                         ours=ours, holds=holds, profile=config.profile, source=src,
                         note="not run: needs the dataset and a GPU (paper profile)" if res is None else
                         "graph features from the .xyz release (no RDKit bonds); see mtlnotes.models.mpnn"
                         if name == "qm9" else "model selected on 95 held-out training images, not on test"))
    return out


def main(argv: list[str] | None = None) -> None:
    """The chapter's command line: ``python -m mtlnotes.experiments.nash_mtl --help``."""
    from mtlnotes.experiments.cli import run_cli

    run_cli(CHAPTER, {"quick": QUICK, "paper": PAPER}, run, claims, argv)


if __name__ == "__main__":
    main()
