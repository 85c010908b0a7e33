"""Small training helpers shared by every chapter: progress bars, minibatches, evaluation, timing."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from tqdm import tqdm  # plain tqdm: tqdm.auto warns without ipywidgets, and bars are off in notebooks anyway

__all__ = [
    "progress_enabled",
    "progress",
    "minibatches",
    "EpochShuffles",
    "predict",
    "accuracy",
    "per_task_accuracy",
    "count_parameters",
    "Stopwatch",
]


def progress_enabled() -> bool:
    """Progress bars are shown only on an interactive terminal, unless ``MTLNOTES_PROGRESS`` says otherwise.

    Notebooks executed by nbval or jupyter-book are not interactive, so their stored outputs stay stable.
    """
    env = os.environ.get("MTLNOTES_PROGRESS")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off", "")
    return sys.stderr.isatty()


def progress(iterable=None, **kwargs):
    """``tqdm`` that is silent when :func:`progress_enabled` is false."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


def minibatches(n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True,
                drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index tensors covering ``range(n)`` in batches of ``batch_size`` (shuffled with ``generator``)."""
    if n < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


class EpochShuffles:
    """The minibatches of each epoch from one generator stream (one ``randperm`` per epoch, as a loop calling
    :func:`minibatches` every epoch draws them), replayable from any epoch.

    ``shuffles(epoch)`` returns the batches an uninterrupted loop would have seen in that epoch: the permutations
    of skipped epochs are drawn and dropped first. So :func:`mtlnotes.fit.fit` can resume a run at epoch ``e``
    with the same order, and a chapter moved onto ``fit`` keeps the numbers its continuous-stream loop gave.

        >>> import torch
        >>> a = EpochShuffles(5, 2, torch.Generator().manual_seed(0))
        >>> b = EpochShuffles(5, 2, torch.Generator().manual_seed(0))
        >>> _ = a(0); [t.tolist() for t in a(1)] == [t.tolist() for t in b(1)]
        True
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        if n < 0 or batch_size < 1:
            raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self._next_epoch = 0

    def __call__(self, epoch: int) -> list[torch.Tensor]:
        if epoch < self._next_epoch:
            raise ValueError(f"epoch {epoch} was already drawn (next is {self._next_epoch}); use a fresh EpochShuffles")
        while self._next_epoch < epoch:
            torch.randperm(self.n, generator=self.generator)
            self._next_epoch += 1
        self._next_epoch += 1
        return list(minibatches(self.n, self.batch_size, self.generator))  # drawn now, not when iterated


@torch.no_grad()
def predict(fn: Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]], x: torch.Tensor,
            batch_size: int = 1024, device: torch.device | str | None = None):
    """Apply ``fn`` to ``x`` in batches (no grad) and concatenate; ``fn`` may return a tensor or a list of them."""
    outs = []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        if device is not None:
            xb = xb.to(device)
        outs.append(fn(xb))
    if not outs:
        raise ValueError("predict() got an empty input")
    if isinstance(outs[0], torch.Tensor):
        return torch.cat([o.cpu() for o in outs])
    return [torch.cat([o[k].cpu() for o in outs]) for k in range(len(outs[0]))]


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals ``target`` (logits (N, C), target (N,))."""
    if logits.shape[0] != target.shape[0]:
        raise ValueError(f"{logits.shape[0]} predictions for {target.shape[0]} targets")
    if target.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (logits.argmax(dim=1) == target).float().mean().item()


def per_task_accuracy(logits: torch.Tensor, target: torch.Tensor, task: torch.Tensor, n_tasks: int) -> list[float]:
    """Accuracy of each task id in ``range(n_tasks)`` (rows grouped by ``task``)."""
    out = []
    for t in range(n_tasks):
        mask = task == t
        if not mask.any():
            raise ValueError(f"task {t} has no samples")
        out.append(accuracy(logits[mask], target[mask]))
    return out


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters, counting shared tensors once."""
    seen, total = set(), 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


class Stopwatch:
    """Accumulates wall time over ``with sw:`` blocks (``sw.seconds``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += time.perf_counter() - self._start
        self._start = None

    @staticmethod
    @contextmanager
    def measure() -> Iterator["Stopwatch"]:
        sw = Stopwatch()
        with sw:
            yield sw
