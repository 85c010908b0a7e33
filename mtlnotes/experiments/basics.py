"""Chapter 0 — hard parameter sharing vs independent single-task networks on MultiMNIST.

Hard parameter sharing (Caruana, 1997): one trunk shared by all tasks, one head per task, trained on the
sum of the task losses. The baseline: one complete network per task. Data: MultiMNIST (Sener & Koltun,
2018) built from real MNIST; tasks "left digit" and "right digit". Model selection by validation
accuracy (a split of MNIST's training images), never by test.

``python -m mtlnotes.experiments.basics --profile quick --out results/basics-quick.json``
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data import MultiLabelData, load_mnist, multi_mnist, split_indices
from mtlnotes.data.mnist import ImageDataset
from mtlnotes.experiments.cli import run_cli
from mtlnotes.models import MLP, HardSharingNet, MultiLeNetEncoder
from mtlnotes.repro import make_deterministic, seed_everything, set_threads, torch_generator
from mtlnotes.results import Claim
from mtlnotes.stats import MIN_SEEDS, all_hold, compare
from mtlnotes.fit import fit
from mtlnotes.training import EpochShuffles, count_parameters, predict

__all__ = ["Config", "QUICK", "FULL", "PAPER", "build_data", "build_model", "train_model", "run", "claims",
           "profile_rows"]

CHAPTER = "basics"


@dataclass(frozen=True)
class Config:
    """Knobs of chapter 0. MultiMNIST sizes follow Sener & Koltun (2018): 60k train images (here minus a
    validation split) and 10k test images built from MNIST's test set."""

    profile: str = "quick"
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int = 12_000          # MultiMNIST training samples (from MNIST train images not used for validation)
    n_val: int = 2_000             # validation samples (from held-out MNIST train images)
    n_test: int = 10_000           # test samples (from MNIST test images)
    val_fraction: float = 1 / 6    # fraction of MNIST train images reserved for building the validation set
    epochs: int = 8
    batch_size: int = 256
    lr: float = 1e-3               # Adam
    trunk_features: int = 50       # MultiLeNet encoder output (Sener & Koltun, 2018)
    head_hidden: int = 50
    data_seed: int = 0             # the MultiMNIST construction is fixed across training seeds


QUICK = Config()
#: all of MultiMNIST as Sener & Koltun build it (50k/10k from MNIST train, 10k from MNIST test), 20 epochs,
#: 3 seeds: about an hour on one CPU thread, checkpointed every epoch
FULL = Config(profile="full", seeds=(0, 1, 2), n_train=50_000, n_val=10_000, n_test=10_000, epochs=20)
PAPER = Config(profile="paper", seeds=(0, 1, 2), n_train=50_000, n_val=10_000, n_test=10_000, epochs=50)


def build_data(config: Config, root=None) -> tuple[MultiLabelData, MultiLabelData, MultiLabelData]:
    """(train, val, test) MultiMNIST; train/val come from disjoint MNIST training images."""
    mnist_train, mnist_test = load_mnist("train", root), load_mnist("test", root)
    train_idx, val_idx = split_indices(len(mnist_train), (1 - config.val_fraction, config.val_fraction),
                                       seed=config.data_seed)
    part = lambda idx: ImageDataset(mnist_train.images[idx], mnist_train.labels[idx], "mnist-train-part")  # noqa: E731
    train = multi_mnist(part(train_idx), config.n_train, seed=config.data_seed)
    val = multi_mnist(part(val_idx), config.n_val, seed=config.data_seed + 1)
    test = multi_mnist(mnist_test, config.n_test, seed=config.data_seed + 2)
    return train, val, test


def build_model(config: Config, shared: bool, n_tasks: int = 2, seed: int | None = None) -> nn.Module:
    """Hard sharing (one encoder, ``n_tasks`` heads) or a single-task network (one encoder, one head).

    With ``seed``, the initial weights are drawn after seeding every generator with it.
    """
    if seed is not None:
        seed_everything(seed)
    head = lambda: MLP([config.trunk_features, config.head_hidden, 10])  # noqa: E731
    return HardSharingNet(MultiLeNetEncoder(config.trunk_features), [head() for _ in range(n_tasks if shared else 1)])


def _val_accuracy(model: nn.Module, data: MultiLabelData, tasks: list[int], device) -> list[float]:
    model.eval()
    outs = predict(model, data.x, device=device)
    return [(o.argmax(1) == data.y[:, t]).float().mean().item() for o, t in zip(outs, tasks)]


def train_model(model: nn.Module, tasks: list[int], train: MultiLabelData, val: MultiLabelData, config: Config,
                seed: int, device: torch.device | str = "cpu", checkpoint: CheckpointStore | None = None,
                key: str = "fit") -> dict:
    """Train on the sum of the cross-entropies of ``tasks`` (head k ↔ task ``tasks[k]``) with Adam; keep the epoch
    with the best mean validation accuracy (:func:`mtlnotes.fit.fit`, which saves every epoch under ``key`` in
    ``checkpoint`` and resumes from it). Returns the selected model, the validation curve (per-task accuracies
    after each epoch), the selected epoch and the training time."""
    seed_everything(seed)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    last_accuracies: list[float] = []

    def step(idx: torch.Tensor) -> torch.Tensor:
        x, y = train.x[idx].to(device), train.y[idx].to(device)
        loss = sum(F.cross_entropy(o, y[:, t]) for o, t in zip(model(x), tasks))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    def evaluate() -> float:
        last_accuracies[:] = _val_accuracy(model, val, tasks, device)
        return sum(last_accuracies) / len(last_accuracies)

    result = fit(model, opt, step, EpochShuffles(len(train), config.batch_size, torch_generator(seed)),
                 config.epochs, evaluate=evaluate, checkpoint=checkpoint, key=key,
                 on_epoch_end=lambda epoch, record: record.update(accuracies=list(last_accuracies)))
    return {"model": model, "val_curve": [h["accuracies"] for h in result.history], "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds}


def run(config: Config, *, device: torch.device | str | None = None, checkpoint_dir=None, root=None) -> dict:
    """Train hard sharing and one single-task network per task for every seed; test the selected models.

    Returns per-seed test accuracies per task for both set-ups, validation curves, parameter counts and
    training times (seconds, the only non-deterministic numbers).
    """
    set_threads()
    make_deterministic(True)
    device = device or "cpu"
    store = CheckpointStore(checkpoint_dir, fingerprint=config)
    train, val, test = build_data(config, root)
    n_tasks = len(train.task_names)

    def one_seed(seed: int) -> dict:
        keys = [f"seed{seed}-hard_sharing"] + [f"seed{seed}-single_task{t}" for t in range(n_tasks)]
        mtl = train_model(build_model(config, True, n_tasks, seed=seed), list(range(n_tasks)), train, val, config,
                          seed, device, checkpoint=store, key=keys[0])
        mtl_acc = _val_accuracy(mtl["model"], test, list(range(n_tasks)), device)
        stl = [train_model(build_model(config, False, seed=seed), [t], train, val, config, seed, device,
                           checkpoint=store, key=keys[1 + t]) for t in range(n_tasks)]
        for key in keys:  # the finished seed is stored whole below; its per-epoch states are no longer needed
            store.drop_state(key)
        stl_acc = [_val_accuracy(s["model"], test, [t], device)[0] for t, s in enumerate(stl)]
        return {
            "seed": seed,
            "test_accuracy": {"hard_sharing": mtl_acc, "single_task": stl_acc},
            "val_curve": {"hard_sharing": mtl["val_curve"], "single_task": [s["val_curve"] for s in stl]},
            "best_epoch": {"hard_sharing": mtl["best_epoch"], "single_task": [s["best_epoch"] for s in stl]},
            "train_seconds": {"hard_sharing": mtl["train_seconds"], "single_task": sum(s["train_seconds"] for s in stl)},
        }

    per_seed = [store.get_or_compute(f"seed{seed}", lambda seed=seed: one_seed(seed)) for seed in config.seeds]
    return {
        "task_names": list(train.task_names),
        "parameters": {"hard_sharing": count_parameters(build_model(config, True, n_tasks)),
                       "single_task": n_tasks * count_parameters(build_model(config, False))},
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "per_seed": per_seed,
    }


def mean_accuracies(results: dict) -> dict[str, list[float]]:
    """Mean over seeds of the test accuracy of each task, per set-up."""
    out = {}
    for setup in ("hard_sharing", "single_task"):
        rows = torch.tensor([r["test_accuracy"][setup] for r in results["per_seed"]])
        out[setup] = rows.mean(0).tolist()
    return out


def profile_rows(docs: dict[str, dict]) -> list[dict]:
    """The profiles side by side (``docs``: profile -> results file as read by
    :func:`~mtlnotes.results.read_results`, in increasing scale): one row per (profile, task) with the training
    size, epochs and seeds, the mean test accuracy (%) of hard sharing and of the single-task networks, and the
    paired difference hard − single in points with its 95% t-interval over seeds."""
    rows = []
    for profile, doc in docs.items():
        res, cfg = doc["results"], doc["config"]
        for k, task in enumerate(res["task_names"]):
            hard = [100 * r["test_accuracy"]["hard_sharing"][k] for r in res["per_seed"]]
            single = [100 * r["test_accuracy"]["single_task"][k] for r in res["per_seed"]]
            diff = compare(hard, single)
            rows.append({"profile": profile, "task": task, "train samples": res["sizes"]["train"],
                         "epochs": cfg["epochs"], "seeds": len(hard),
                         "hard sharing (%)": round(sum(hard) / len(hard), 2),
                         "single task (%)": round(sum(single) / len(single), 2),
                         "hard − single (points)": str(diff)})
    return rows


def claims(results: dict, config: Config) -> list[Claim]:
    """Chapter 0's claims: parameter saving of hard sharing, and no loss in accuracy from sharing.

    "Does not hurt" is judged per task from the paired (same seed) differences hard sharing − single task in
    accuracy points, with a 95% t-interval (:mod:`mtlnotes.stats`): a task passes when the interval lies above
    −0.5, fails when it lies below, and is inconclusive otherwise; the claim needs every task to pass
    (:func:`~mtlnotes.stats.all_hold`) and at least :data:`~mtlnotes.stats.MIN_SEEDS` seeds."""
    p = results["parameters"]
    ratio = p["hard_sharing"] / p["single_task"]
    per_seed = results["per_seed"]
    n_tasks = len(per_seed[0]["test_accuracy"]["hard_sharing"])
    names = results.get("task_names", [f"task {k}" for k in range(n_tasks)])
    diffs = [compare([100 * r["test_accuracy"]["hard_sharing"][k] for r in per_seed],
                     [100 * r["test_accuracy"]["single_task"][k] for r in per_seed]) for k in range(n_tasks)]
    worst = min(d.mean for d in diffs)
    enough = len(per_seed) >= MIN_SEEDS
    holds = all_hold([d.exceeds(-0.5) for d in diffs]) if enough else None
    note = (f"{len(per_seed)} seeds; MultiMNIST {results['sizes']['train']} train samples; hard − single (points): "
            + ", ".join(f"{name} {d}" for name, d in zip(names, diffs)))
    if not enough:
        note += f"; not judged: fewer than {MIN_SEEDS} seeds"
    elif holds is None:
        note += "; an interval contains −0.5"
    return [
        Claim(CHAPTER, "Hard parameter sharing needs fewer parameters than one network per task "
                       "(ratio shared / independent < 1)", None, round(ratio, 4), ratio < 1.0, config.profile,
              source="Caruana (1997); Ruder (2017) §3"),
        Claim(CHAPTER, "Sharing the trunk does not hurt either task: hard sharing is within 0.5 accuracy points of "
                       "single-task training on every task (worst task's difference, points, mean over seeds)",
              None, round(worst, 2), holds, config.profile, source="Caruana (1997) §1", note=note,
              inconclusive=enough and holds is None),
    ]


def main(argv=None):
    return run_cli(CHAPTER, {"quick": QUICK, "full": FULL, "paper": PAPER}, run, claims, argv)


if __name__ == "__main__":
    main()
