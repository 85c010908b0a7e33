"""Multi-task datasets built from real single-task data.

* MultiMNIST (Sener & Koltun, 2018, after Sabour et al., 2017): two MNIST digits overlaid, one in the
  top-left and one in the bottom-right of a 36×36 canvas, resized to 28×28; task 0 classifies the
  left digit, task 1 the right one.
* MNIST-MTL (Rosenbaum et al., 2018, §4): 10 binary one-vs-rest tasks; task c has 1k images of digit c
  (label 1) and 1k of each other digit (label 0) for training, and 200 test images in the same 1:9
  proportion (20 of c, 20 of each other digit), so that always answering "not c" scores 90%.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mtlnotes.data.mnist import ImageDataset

__all__ = ["MultiLabelData", "TaskData", "multi_mnist", "mnist_mtl", "mnist_mtl_validation", "split_indices"]


@dataclass(frozen=True)
class MultiLabelData:
    """Every sample carries a label for every task: x (N, C, H, W), y (N, K)."""

    x: torch.Tensor
    y: torch.Tensor
    task_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0] or self.y.ndim != 2 or self.y.shape[1] != len(self.task_names):
            raise ValueError(f"inconsistent shapes x {tuple(self.x.shape)}, y {tuple(self.y.shape)}, "
                             f"{len(self.task_names)} task names")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: torch.Tensor) -> "MultiLabelData":
        return MultiLabelData(self.x[index], self.y[index], self.task_names)


@dataclass(frozen=True)
class TaskData:
    """Each sample belongs to one task: x (N, C, H, W), y (N,) label within its task, task (N,) task id."""

    x: torch.Tensor
    y: torch.Tensor
    task: torch.Tensor
    task_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.y.shape != (n,) or self.task.shape != (n,):
            raise ValueError(f"inconsistent shapes x {tuple(self.x.shape)}, y {tuple(self.y.shape)}, "
                             f"task {tuple(self.task.shape)}")
        if n and (self.task.min() < 0 or self.task.max() >= len(self.task_names)):
            raise ValueError(f"task ids must lie in [0, {len(self.task_names)})")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    def subset(self, index: torch.Tensor) -> "TaskData":
        return TaskData(self.x[index], self.y[index], self.task[index], self.task_names)

    def of_task(self, t: int) -> "TaskData":
        return self.subset(torch.nonzero(self.task == t).flatten())

    def first_tasks(self, n: int) -> "TaskData":
        """The samples of tasks 0, ..., n - 1 as an ``n``-task dataset, in their order here (Rosenbaum et al.,
        2018, Figure 15: "results on the first n tasks")."""
        if not 1 <= n <= self.n_tasks:
            raise ValueError(f"n must lie between 1 and {self.n_tasks} (this dataset's tasks), got {n}")
        keep = torch.nonzero(self.task < n).flatten()
        return TaskData(self.x[keep], self.y[keep], self.task[keep], self.task_names[:n])


def multi_mnist(source: ImageDataset, n: int | None = None, seed: int = 0, canvas: int = 36,
                out_size: int = 28) -> MultiLabelData:
    """MultiMNIST from MNIST images ``source`` (N, 1, 28, 28): ``n`` samples (default ``len(source)``).

    Sample i overlays image ``a_i`` at the canvas's top-left and image ``b_i`` at its bottom-right
    (pixelwise max), then resizes the ``canvas``² image to ``out_size``² (bilinear, antialiased).
    ``a`` is a seeded permutation of the source (repeated if ``n > len(source)``), ``b`` uniform random.
    Labels: ``y[:, 0]`` = digit on the left, ``y[:, 1]`` = digit on the right. Deterministic given ``seed``.
    """
    size = source.images.shape[-1]
    if canvas < size:
        raise ValueError(f"canvas {canvas} smaller than the digits ({size})")
    n = len(source) if n is None else n
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gen = torch.Generator().manual_seed(seed)
    reps = -(-n // len(source))
    a = torch.cat([torch.randperm(len(source), generator=gen) for _ in range(reps)])[:n]
    b = torch.randint(len(source), (n,), generator=gen)
    off = canvas - size
    out = torch.empty(n, 1, out_size, out_size)
    for start in range(0, n, 4096):  # chunks keep memory flat for large n
        ia, ib = a[start:start + 4096], b[start:start + 4096]
        img = torch.zeros(len(ia), 1, canvas, canvas)
        img[:, :, :size, :size] = source.images[ia]
        img[:, :, off:, off:] = torch.maximum(img[:, :, off:, off:], source.images[ib])
        out[start:start + len(ia)] = F.interpolate(img, size=(out_size, out_size), mode="bilinear",
                                                   align_corners=False, antialias=True).clamp_(0, 1)
    y = torch.stack([source.labels[a], source.labels[b]], dim=1)
    return MultiLabelData(out, y, ("left", "right"))


def _take(labels: torch.Tensor, digit: int, k: int, gen: torch.Generator, what: str) -> torch.Tensor:
    pool = torch.nonzero(labels == digit).flatten()
    if len(pool) < k:
        raise ValueError(f"{what}: need {k} images of digit {digit}, only {len(pool)} available")
    return pool[torch.randperm(len(pool), generator=gen)[:k]]


def _one_vs_rest(data: ImageDataset, n_pos: int, n_neg_per_digit: int, gen: torch.Generator, what: str) -> TaskData:
    xs, ys, ts = [], [], []
    for t in range(10):
        for d in range(10):
            idx = _take(data.labels, d, n_pos if d == t else n_neg_per_digit, gen, what)
            xs.append(idx)
            ys.append(torch.full((len(idx),), int(d == t), dtype=torch.int64))
            ts.append(torch.full((len(idx),), t, dtype=torch.int64))
    idx = torch.cat(xs)
    return TaskData(data.images[idx], torch.cat(ys), torch.cat(ts), tuple(f"{t}-vs-rest" for t in range(10)))


def mnist_mtl(train: ImageDataset, test: ImageDataset, seed: int = 0, n_pos: int = 1000,
              n_neg_per_digit: int = 1000, n_test_per_task: int = 200) -> tuple[TaskData, TaskData]:
    """MNIST-MTL (Rosenbaum et al., 2018, §4): ten one-vs-rest tasks; returns (train, test).

    Train: per task, ``n_pos`` positives and ``n_neg_per_digit`` of each other digit (paper: 1k and 1k,
    10k per task, 100k total). Test: ``n_test_per_task`` per task (paper: 200), one tenth positives.
    Images are drawn without replacement within a task; the same image may serve several tasks.
    """
    if n_test_per_task % 10:
        raise ValueError(f"n_test_per_task must be a multiple of 10, got {n_test_per_task}")
    gen = torch.Generator().manual_seed(seed)
    k = n_test_per_task // 10
    return (_one_vs_rest(train, n_pos, n_neg_per_digit, gen, "MNIST-MTL train"),
            _one_vs_rest(test, k, k, gen, "MNIST-MTL test"))


def mnist_mtl_validation(train: ImageDataset, seed: int = 0, val_fraction: float = 0.1, n_pos: int = 1000,
                         n_neg_per_digit: int = 1000, n_val_per_task: int = 1000) -> tuple[TaskData, TaskData]:
    """MNIST-MTL training and validation sets drawn from disjoint MNIST *training* images, for choosing
    hyper-parameters without touching the test split; returns (train, validation).

    A seeded ``val_fraction`` of the MNIST training images is held out; the training tasks are drawn from the rest
    as in :func:`mnist_mtl` (``n_pos`` positives and ``n_neg_per_digit`` of each other digit per task), the
    validation tasks from the held-out images with ``n_val_per_task`` samples per task, one tenth positives.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    if n_val_per_task % 10:
        raise ValueError(f"n_val_per_task must be a multiple of 10, got {n_val_per_task}")
    fit_idx, val_idx = split_indices(len(train), (1 - val_fraction, val_fraction), seed)
    gen = torch.Generator().manual_seed(seed)
    k = n_val_per_task // 10
    return (_one_vs_rest(_image_subset(train, fit_idx), n_pos, n_neg_per_digit, gen, "MNIST-MTL train (fit part)"),
            _one_vs_rest(_image_subset(train, val_idx), k, k, gen, "MNIST-MTL validation"))


def _image_subset(data: ImageDataset, index: torch.Tensor) -> ImageDataset:
    return ImageDataset(data.images[index], data.labels[index], data.name, data.classes)


def split_indices(n: int, fractions: tuple[float, ...], seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded random partition of ``range(n)`` into parts of the given fractions (which must sum to 1)."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    bounds = [round(n * sum(fractions[:i])) for i in range(len(fractions) + 1)]
    return tuple(perm[bounds[i]:bounds[i + 1]] for i in range(len(fractions)))
