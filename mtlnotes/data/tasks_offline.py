"""An offline multi-task suite with task sizes spanning two orders of magnitude, like GLUE's (2.5k to 393k).

GLUE (Wang et al., 2019) cannot be used offline, so the task selection chapter (Glover & Hokamp, 2019)
needs another suite where small tasks risk being under-sampled by a task-size policy. Eight tasks are
built from the real MNIST and Fashion-MNIST images, each with its own label set and its own disjoint set of
training images (no image is used by two tasks), with training sizes from 30,000 down to 220 (ratio 136,
GLUE's is 157). Test images come from the official test splits, also disjoint between tasks.

=====================  =========================  ======  ===========================================
task                   labels                     train   GLUE task of about the same relative size
=====================  =========================  ======  ===========================================
fashion-10             10 Fashion-MNIST classes   30,000  MNLI
mnist-10               10 digits                  28,000  QQP
fashion-shoes          sandal / sneaker / boot     8,000  QNLI
mnist-parity           even / odd digit            5,400  SST-2
mnist-4v9              4 vs 9                        700  CoLA
fashion-shirt-tshirt   shirt vs T-shirt/top          480  STS-B
mnist-3v5              3 vs 5                        320  MRPC
fashion-pullover-coat  pullover vs coat              220  RTE
=====================  =========================  ======  ===========================================

Images are allocated task by task from a seeded permutation, largest task first (so the 10-class tasks keep
their class balance); the smaller tasks take what is left of their classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtlnotes.data.mnist import ImageDataset, load_fashion_mnist, load_mnist

__all__ = ["OfflineTask", "OFFLINE_TASKS", "TaskSet", "build_task_suite", "build_offline_suite"]


@dataclass(frozen=True)
class OfflineTask:
    """One task: ``source`` ("mnist" or "fashion_mnist"), the source classes it uses and the label each maps
    to (``classes[i]`` → ``labels[i]``), and how many training / test images it gets."""

    name: str
    source: str
    classes: tuple[int, ...]
    labels: tuple[int, ...]
    n_train: int
    n_test: int = 1000

    def __post_init__(self) -> None:
        if len(self.classes) != len(self.labels) or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"{self.name}: classes must be distinct and match labels one to one")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(f"{self.name}: n_train and n_test must be positive")

    @property
    def n_classes(self) -> int:
        return len(set(self.labels))


OFFLINE_TASKS: tuple[OfflineTask, ...] = (
    OfflineTask("fashion-10", "fashion_mnist", tuple(range(10)), tuple(range(10)), 30_000),
    OfflineTask("mnist-10", "mnist", tuple(range(10)), tuple(range(10)), 28_000),
    OfflineTask("fashion-shoes", "fashion_mnist", (5, 7, 9), (0, 1, 2), 8_000),
    OfflineTask("mnist-parity", "mnist", tuple(range(10)), tuple(d % 2 for d in range(10)), 5_400),
    OfflineTask("mnist-4v9", "mnist", (4, 9), (0, 1), 700),
    OfflineTask("fashion-shirt-tshirt", "fashion_mnist", (6, 0), (0, 1), 480),
    OfflineTask("mnist-3v5", "mnist", (3, 5), (0, 1), 320),
    OfflineTask("fashion-pullover-coat", "fashion_mnist", (2, 4), (0, 1), 220),
)


@dataclass(frozen=True)
class TaskSet:
    """Per-task tensors: ``x[k]`` (n_k, 1, 28, 28) float in [0, 1], ``y[k]`` (n_k,) int64 labels in
    ``range(n_classes[k])``."""

    names: tuple[str, ...]
    x: tuple[torch.Tensor, ...]
    y: tuple[torch.Tensor, ...]
    n_classes: tuple[int, ...]

    @property
    def sizes(self) -> list[int]:
        return [int(t.shape[0]) for t in self.y]


def _allocate(data: ImageDataset, tasks: Sequence[OfflineTask], n_attr: str, seed: int) -> dict[str, torch.Tensor]:
    """Disjoint index sets: for each task (largest first, so that large tasks keep their class balance) take the
    first n eligible unused images of a seeded permutation."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data), generator=gen)
    labels = data.labels[order]
    used = torch.zeros(len(data), dtype=torch.bool)
    out = {}
    for task in sorted(tasks, key=lambda t: -getattr(t, n_attr)):
        n = getattr(task, n_attr)
        eligible = torch.isin(labels, torch.tensor(task.classes)) & ~used
        pos = torch.nonzero(eligible).flatten()
        if pos.numel() < n:
            raise ValueError(f"task {task.name} needs {n} images of classes {task.classes} from "
                             f"{data.name} but only {pos.numel()} unused ones remain")
        pos = pos[:n]
        used[pos] = True
        out[task.name] = order[pos]
    return out


def _labels(task: OfflineTask, source_labels: torch.Tensor) -> torch.Tensor:
    lut = torch.full((max(int(source_labels.max()), max(task.classes)) + 1,), -1, dtype=torch.int64)
    lut[torch.tensor(task.classes)] = torch.tensor(task.labels)
    y = lut[source_labels]
    if (y < 0).any():
        raise ValueError(f"task {task.name}: an image of a class outside {task.classes} was allocated")
    return y


def build_task_suite(sources: dict[str, tuple[ImageDataset, ImageDataset]], tasks: Sequence[OfflineTask],
                     seed: int = 0) -> tuple[TaskSet, TaskSet]:
    """(train, test) :class:`TaskSet` from ``sources[name] = (train, test)`` image datasets."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    parts = []
    for split, n_attr in ((0, "n_train"), (1, "n_test")):
        idx: dict[str, torch.Tensor] = {}
        for src in sorted({t.source for t in tasks}):
            if src not in sources:
                raise ValueError(f"no data given for source {src!r} (have {sorted(sources)})")
            idx.update(_allocate(sources[src][split], [t for t in tasks if t.source == src], n_attr,
                                 seed + 7919 * split))
        xs, ys = [], []
        for t in tasks:
            d = sources[t.source][split]
            i = idx[t.name]
            xs.append(d.images[i].clone())
            ys.append(_labels(t, d.labels[i]))
        parts.append(TaskSet(tuple(names), tuple(xs), tuple(ys), tuple(t.n_classes for t in tasks)))
    return parts[0], parts[1]


def build_offline_suite(root=None, seed: int = 0, tasks: Sequence[OfflineTask] = OFFLINE_TASKS,
                        download: bool = True) -> tuple[TaskSet, TaskSet]:
    """The eight-task suite of this module from the verified MNIST and Fashion-MNIST files in the cache."""
    sources = {}
    needed = {t.source for t in tasks}
    if "mnist" in needed:
        sources["mnist"] = (load_mnist("train", root, download), load_mnist("test", root, download))
    if "fashion_mnist" in needed:
        sources["fashion_mnist"] = (load_fashion_mnist("train", root, download),
                                    load_fashion_mnist("test", root, download))
    return build_task_suite(sources, tasks, seed)
