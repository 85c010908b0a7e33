"""The training runs of the Nash-MTL chapter (Navon et al., 2022, "Multi-Task Learning as a Bargaining Game"):
MultiMNIST, and the paper's benchmarks QM9 (§6.2, Table 2) and NYUv2 (§6.3, Table 3).

1. MultiMNIST (real MNIST) with the MultiLeNet trunk and two linear heads (:func:`run_multimnist`), every method,
   single-task baselines with the same code, per-task test accuracy at the epoch of best validation accuracy, Δm%
   and mean rank, time per epoch, peak tensor memory of one training step; :func:`update_frequency_study` solves
   Nash-MTL's bargaining problem only every N steps (§4, "practical speedup").
2. QM9's 11 targets with the MPNN of :mod:`mtlnotes.models.mpnn` (:func:`run_qm9`) and NYUv2's segmentation, depth
   and normals with SegNet-MTAN of :mod:`mtlnotes.models.segnet_mtan` (:func:`run_nyuv2`), every method and the
   single-task baselines, through the loop both share (:func:`train_paper_model`). The loaders read the official
   formats (:mod:`mtlnotes.data.qm9`, :mod:`mtlnotes.data.nyuv2`, which also holds NYUv2's augmentation, losses and
   metrics).

Δm% (Maninis et al., 2019; lower is better) and mean rank (MR; 1 = best) are :mod:`mtlnotes.weighting.metrics`.
``config`` is any object with the fields of :class:`BenchmarkConfig` (the chapter
:mod:`mtlnotes.experiments.nash_mtl`'s ``Config``; :func:`update_frequency_study` also needs it to be a dataclass).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import load_mnist, multi_mnist, split_indices
from mtlnotes.data.mnist import ImageDataset
from mtlnotes.data.nyuv2 import NYUV2_METRICS, NYUv2Meter, nyuv2_losses, random_scale_crop
from mtlnotes.data.qm9 import qm9_splits
from mtlnotes.models import HardSharingNet, MultiLeNetEncoder
from mtlnotes.repro import device_label, seed_everything, torch_generator
from mtlnotes.fit import fit
from mtlnotes.training import EpochShuffles, minibatches, predict, progress
from mtlnotes.weighting.metrics import delta_m, mean_rank
from mtlnotes.weighting.registry import make_method
from mtlnotes.weighting.trainer import PeakMemory, multitask_step, shared_parameter_step

if TYPE_CHECKING:
    from mtlnotes.data.multitask import MultiLabelData
    from mtlnotes.data.nyuv2 import NYUv2
    from mtlnotes.data.qm9 import QM9Data

#: (train, validation, test) MultiMNIST sets, as :func:`multimnist_data` builds them.
MultiMNISTSplits = tuple["MultiLabelData", "MultiLabelData", "MultiLabelData"]

__all__ = ["BenchmarkConfig", "method_kwargs", "multimnist_data", "train_multimnist", "run_multimnist",
           "multimnist_unit_names", "multimnist_unit_key", "train_multimnist_unit",
           "update_frequency_study", "train_paper_model", "run_qm9", "run_nyuv2"]


class BenchmarkConfig(Protocol):
    """The settings the runs read (the Nash-MTL chapter's ``Config`` has them all; its comments give the sources)."""

    @property
    def seeds(self) -> tuple[int, ...]: ...
    @property
    def methods(self) -> tuple[str, ...]: ...              # MultiMNIST and NYUv2
    # --- MultiMNIST
    @property
    def mm_train(self) -> int: ...
    @property
    def mm_val(self) -> int: ...
    @property
    def mm_test(self) -> int: ...
    @property
    def mm_epochs(self) -> int: ...
    @property
    def mm_batch(self) -> int: ...
    @property
    def mm_lr(self) -> float: ...                          # Adam
    @property
    def mm_hidden(self) -> int: ...
    @property
    def gradient_engine(self) -> str: ...                  # per_task_gradients engine for MultiMNIST
    # --- method hyper-parameters
    @property
    def cagrad_c(self) -> float: ...
    @property
    def nash_max_norm(self) -> float: ...
    @property
    def nash_update_every(self) -> int: ...
    # --- QM9 (§6.2)
    @property
    def qm9_methods(self) -> tuple[str, ...]: ...
    @property
    def qm9_epochs(self) -> int: ...
    @property
    def qm9_batch(self) -> int: ...
    @property
    def qm9_lr(self) -> float: ...
    @property
    def qm9_dim(self) -> int: ...
    @property
    def qm9_val(self) -> int: ...
    @property
    def qm9_test(self) -> int: ...
    @property
    def qm9_limit(self) -> int | None: ...
    # --- NYUv2 (§6.3)
    @property
    def nyu_epochs(self) -> int: ...
    @property
    def nyu_batch(self) -> int: ...
    @property
    def nyu_lr(self) -> float: ...
    @property
    def nyu_lr_step(self) -> int: ...
    @property
    def nyu_val(self) -> int: ...
    @property
    def nyu_filters(self) -> tuple[int, ...]: ...
    @property
    def nyu_augment(self) -> bool: ...
    @property
    def paper_gradient_engine(self) -> str: ...            # per_task_gradients engine for QM9 / NYUv2


def method_kwargs(name: str, config: BenchmarkConfig) -> dict:
    """The constructor arguments of method ``name`` from ``config`` (CAGrad's c, Nash-MTL's max norm and
    update frequency; none for the others)."""
    if name == "CAGrad":
        return {"c": config.cagrad_c}
    if name == "Nash-MTL":
        return {"max_norm": config.nash_max_norm, "update_every": config.nash_update_every}
    return {}


# ----------------------------------------------------------------------------- MultiMNIST
def multimnist_data(config: BenchmarkConfig, root: str | os.PathLike | None = None) -> MultiMNISTSplits:
    """(train, validation, test) MultiMNIST sets of ``mm_train``, ``mm_val`` and ``mm_test`` images, built from 90% of
    MNIST train, the other 10% and MNIST test (MNIST must be in the data cache; nothing is downloaded)."""
    train, test = load_mnist("train", root, download=False), load_mnist("test", root, download=False)
    tr_idx, va_idx = split_indices(len(train), (0.9, 0.1), seed=0)
    sub = lambda d, i: ImageDataset(d.images[i], d.labels[i], d.name)  # noqa: E731
    return (multi_mnist(sub(train, tr_idx), config.mm_train, seed=1),
            multi_mnist(sub(train, va_idx), config.mm_val, seed=2),
            multi_mnist(test, config.mm_test, seed=3))


def _new_model(config: BenchmarkConfig, n_heads: int) -> HardSharingNet:
    return HardSharingNet(MultiLeNetEncoder(config.mm_hidden),
                          [nn.Linear(config.mm_hidden, 10) for _ in range(n_heads)])


def _accuracies(model: HardSharingNet, data, tasks: list[int], device) -> list[float]:
    outs = predict(model, data.x, batch_size=2048, device=device)
    return [float((o.argmax(1) == data.y[:, t]).float().mean()) for o, t in zip(outs, tasks)]


def train_multimnist(config: BenchmarkConfig, method_name: str, tasks: list[int], data: MultiMNISTSplits, seed: int,
                     device: torch.device | str) -> dict:
    """Train one model (a hard-sharing net with a head per task in ``tasks``) on :func:`mtlnotes.fit.fit`, select
    the epoch with the best mean validation accuracy, and test it."""
    train, val, test = data
    seed_everything(seed)
    model = _new_model(config, len(tasks)).to(device)
    method = make_method(method_name, len(tasks), seed=seed, **method_kwargs(method_name, config))
    opt = torch.optim.Adam(list(model.parameters()) + method.parameters(), lr=config.mm_lr)
    ce = nn.functional.cross_entropy
    x_all, y_all = train.x.to(device), train.y.to(device)
    totals = {"sum": torch.zeros(len(tasks), dtype=torch.float64), "batches": 0}
    curve: list[dict] = []

    def step(idx: torch.Tensor) -> None:
        xb, yb = x_all[idx], y_all[idx]
        losses, _ = multitask_step(model, method, xb, [yb[:, t] for t in tasks], [ce] * len(tasks), opt,
                                   gradient_engine=config.gradient_engine)
        totals["sum"] += losses.double().cpu()
        totals["batches"] += 1

    def validate() -> float:
        curve.append({"val_acc": _accuracies(model, val, tasks, device)})
        return float(np.mean(curve[-1]["val_acc"]))

    def end_epoch(epoch: int, record: dict) -> None:  # the method's per-epoch update (e.g. DWA's loss history)
        mean = totals["sum"] / totals["batches"]
        method.end_epoch(mean)
        curve[-1] = {"epoch": epoch + 1, "train_loss": mean.tolist(), **curve[-1]}
        totals.update(sum=torch.zeros(len(tasks), dtype=torch.float64), batches=0)

    result = fit(model, opt, step, EpochShuffles(len(train), config.mm_batch, torch_generator(seed)),
                 config.mm_epochs, evaluate=validate, on_epoch_end=end_epoch, desc=f"{method_name} seed {seed}")
    test_acc = _accuracies(model, test, tasks, device)
    # peak tensor memory of one training step, on a fresh copy (does not touch the trained model)
    probe = _new_model(config, len(tasks)).to(device)
    probe_method = make_method(method_name, len(tasks), seed=seed, **method_kwargs(method_name, config))
    probe_opt = torch.optim.Adam(list(probe.parameters()) + probe_method.parameters(), lr=config.mm_lr)
    idx = torch.arange(min(config.mm_batch, len(train)))
    with PeakMemory() as mem:
        multitask_step(probe, probe_method, x_all[idx], [y_all[idx][:, t] for t in tasks], [ce] * len(tasks),
                       probe_opt, gradient_engine=config.gradient_engine)
    return {"test_acc": test_acc, "best_epoch": result.best_epoch + 1, "best_val_acc": result.best_score,
            "curve": curve, "time_per_epoch_s": result.train_seconds / config.mm_epochs,
            "peak_step_memory_bytes": int(mem.peak), "device": device_label(device)}


def multimnist_unit_names(config: BenchmarkConfig, n_tasks: int = 2) -> list[str]:
    """The units of :func:`run_multimnist` per seed: every method of ``config.methods``, then the single-task
    baselines ``STL-0``, ``STL-1`` (LS on one head)."""
    return list(config.methods) + [f"STL-{t}" for t in range(n_tasks)]


def multimnist_unit_key(name: str, seed: int) -> str:
    """The checkpoint key of unit ``name`` (a method or ``STL-t``) at ``seed``."""
    return f"mm-{name}-seed{seed}"


def train_multimnist_unit(config: BenchmarkConfig, name: str, data: MultiMNISTSplits, seed: int,
                          device: torch.device | str) -> dict:
    """:func:`train_multimnist` for unit ``name``: a method on both tasks, or ``STL-t`` (LS on task t alone)."""
    if name.startswith("STL-"):
        return train_multimnist(config, "LS", [int(name[4:])], data, seed, device)
    return train_multimnist(config, name, [0, 1], data, seed, device)


def run_multimnist(config: BenchmarkConfig, device: torch.device | None = None,
                   store: CheckpointStore | None = None) -> dict:
    """MultiMNIST: every method of ``config.methods`` and the two single-task baselines (LS on one head), each
    seed (checkpoint keys ``mm-<name>-seed<s>``); test accuracies, Δm%, mean rank, time and memory."""
    device = device or torch.device("cpu")
    store = store or CheckpointStore(None)
    data = multimnist_data(config)
    n_tasks = 2
    raw: dict[str, list[dict]] = {}
    for name in progress(multimnist_unit_names(config), desc="MultiMNIST"):
        raw[name] = [store.get_or_compute(multimnist_unit_key(name, s), lambda s=s, n=name:
                                          train_multimnist_unit(config, n, data, s, device)) for s in config.seeds]
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


def update_frequency_study(config: BenchmarkConfig, every: tuple[int, ...] = (1, 3, 12),
                           device: torch.device | None = None,
                           stl_test_acc: list[float] | None = None) -> dict:
    """Nash-MTL solving for α only every N steps and reusing it in between (Navon et al. §4, "practical
    speedup"), on MultiMNIST: per N, the mean time per epoch and Δm% (Eq. 8, against the single-task
    baselines ``stl_test_acc``, trained here when not given) over ``config.seeds``.

    Steps between solves reuse α with one backward pass of Σ α_k ℓ_k instead of K per-task gradients, which is
    where the time goes at small K (the solve itself is a closed form at K = 2)."""
    if not every or any(n < 1 for n in every):
        raise ValueError(f"every must be a non-empty tuple of step counts >= 1, got {every!r}")
    data = multimnist_data(config)
    device = device or torch.device("cpu")
    if stl_test_acc is None:
        stl_test_acc = [float(np.mean([train_multimnist(config, "LS", [t], data, s, device)["test_acc"][0]
                                       for s in config.seeds])) for t in range(2)]
    out = {}
    for n in every:
        cfg = dataclasses.replace(config, nash_update_every=n)
        runs = [train_multimnist(cfg, "Nash-MTL", [0, 1], data, s, device) for s in config.seeds]
        dm = [delta_m({"Nash-MTL": r["test_acc"]}, stl_test_acc, [True, True])["Nash-MTL"] for r in runs]
        out[n] = {"time_per_epoch_s": float(np.mean([r["time_per_epoch_s"] for r in runs])),
                  "delta_m_per_seed": dm, "delta_m": float(np.mean(dm)),
                  "mean_test_acc": [float(np.mean([r["test_acc"][t] for r in runs])) for t in range(2)]}
    return out


# ----------------------------------------------------------------------------- paper benchmarks: QM9, NYUv2
def train_paper_model(config: BenchmarkConfig, method_name: str, n_tasks: int, model: nn.Module,
                      shared: Sequence[torch.Tensor], task_params: Sequence[Sequence[torch.Tensor]],
                      train_batches: Callable[[int], Iterable[Any]], compute_losses: Callable[[Any], torch.Tensor],
                      evaluate: Callable[[str], dict], select_key: str, optimizer: torch.optim.Optimizer,
                      scheduler: Any, epochs: int, seed: int, scheduler_on_val: bool) -> dict:
    """The loop both paper benchmarks share, on :func:`mtlnotes.fit.fit`: ``epochs`` epochs of
    :func:`shared_parameter_step` over ``train_batches(epoch)``, evaluation after each epoch, the epoch with the best validation score
    (``evaluate("val")[select_key]``, lower is better) kept and evaluated on test."""
    method = make_method(method_name, n_tasks, seed=seed, **method_kwargs(method_name, config))
    if method.parameters():
        optimizer.add_param_group({"params": method.parameters()})
    totals = {"sum": torch.zeros(n_tasks, dtype=torch.float64), "batches": 0}
    curve: list[dict] = []

    def step(batch: Any) -> None:
        losses, _ = shared_parameter_step(lambda b=batch: compute_losses(b), shared, task_params, method,
                                          optimizer, gradient_engine=config.paper_gradient_engine)
        totals["sum"] += losses.double().cpu()
        totals["batches"] += 1

    def validate() -> float:
        curve.append({"val": evaluate("val")})
        return curve[-1]["val"][select_key]

    def end_epoch(epoch: int, record: dict) -> None:  # the method's and the scheduler's per-epoch updates
        mean = totals["sum"] / max(totals["batches"], 1)
        method.end_epoch(mean)
        curve[-1] = {"epoch": epoch + 1, "train_loss": mean.tolist(), **curve[-1]}
        totals.update(sum=torch.zeros(n_tasks, dtype=torch.float64), batches=0)
        if scheduler is not None:
            scheduler.step(curve[-1]["val"]["loss"]) if scheduler_on_val else scheduler.step()

    result = fit(model, optimizer, step, train_batches, epochs, evaluate=validate, maximize=False,
                 on_epoch_end=end_epoch, desc=f"{method_name} seed {seed}")
    return {"test": evaluate("test"), "best_epoch": result.best_epoch + 1, "best_val": result.best_score,
            "curve": curve, "time_per_epoch_s": result.train_seconds / max(epochs, 1)}


def run_qm9(config: BenchmarkConfig, device: torch.device | None = None, store: CheckpointStore | None = None,
            data: QM9Data | None = None) -> dict:
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
        model = HardSharingNet(MPNNEncoder(dim=config.qm9_dim),
                               [nn.Linear(config.qm9_dim, 1) for _ in tasks]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.qm9_lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.7, patience=5, min_lr=1e-5)
        gen = torch_generator(seed)
        cols = torch.tensor(tasks)

        def compute_losses(batch):
            g, yb = batch
            z = model.trunk(g)
            return torch.stack([nn.functional.mse_loss(head(z).squeeze(-1), yb[:, c])
                                for head, c in zip(model.heads, tasks)])

        def evaluate(part: str) -> dict:
            abs_err, sq, n = (torch.zeros(len(tasks), dtype=torch.float64),
                              torch.zeros(len(tasks), dtype=torch.float64), 0)
            with torch.no_grad():
                for g, yb in batches(split[part]):
                    pred = torch.cat([h(model.trunk(g)) for h in model.heads], dim=1).cpu().double()
                    target = yb[:, cols].cpu().double()
                    abs_err += ((pred - target).abs() * std[cols].double()).sum(0)
                    sq += ((pred - target) ** 2).sum(0)
                    n += len(target)
            return {"mae": (abs_err / n).tolist(), "loss": float((sq / n).mean())}

        return train_paper_model(config, method_name, len(tasks), model, model.shared_parameters(),
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
    mae = {m: [float(np.mean([r["test"]["mae"][t] for r in raw[m]])) for t in range(n_tasks)]
           for m in config.qm9_methods}
    lower = [False] * n_tasks
    return {"task_names": list(TASKS), "sizes": {k: len(v) for k, v in split.items()}, "runs": raw,
            "stl_test_mae": stl, "mean_test_mae": mae, "delta_m": delta_m(mae, stl, lower),
            "delta_m_std": {m: float(np.std([delta_m({m: r["test"]["mae"]}, stl, lower)[m] for r in raw[m]]))
                            for m in config.qm9_methods},
            "mean_rank": mean_rank(mae, lower),
            "time_per_epoch_s": {m: float(np.mean([r["time_per_epoch_s"] for r in raw[m]])) for m in raw}}


def run_nyuv2(config: BenchmarkConfig, device: torch.device | None = None, store: CheckpointStore | None = None,
              data: tuple[NYUv2, NYUv2] | None = None) -> dict:
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

        return train_paper_model(config, method_name, len(tasks), model, model.shared_parameters(),
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
