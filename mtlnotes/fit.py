"""One training loop for every chapter: the caller supplies the step, the loop does the rest.

``fit`` owns what every chapter's training shares — epochs, evaluation after each epoch, best-on-validation
selection, checkpoint/resume, progress and threads — and nothing that differs between chapters: the
forward pass, the loss and the update are the caller's ``step`` (pymoo's ``minimize(problem, algorithm)``
and d2l's ``Trainer.fit`` split the work the same way).

Example (a linear model on four points, one epoch of two batches)::

    >>> import torch
    >>> from mtlnotes.fit import fit
    >>> torch.manual_seed(0) and None
    >>> x, y = torch.randn(4, 3), torch.randn(4)
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> def step(idx):
    ...     loss = ((model(x[idx]).squeeze(1) - y[idx]) ** 2).mean()
    ...     opt.zero_grad(); loss.backward(); opt.step()
    ...     return loss.item()
    >>> result = fit(model, opt, step, batches=lambda epoch: [torch.arange(2), torch.arange(2, 4)], epochs=1,
    ...              evaluate=lambda: -((model(x).squeeze(1) - y) ** 2).mean().item())
    >>> result.best_epoch, len(result.history)
    (0, 1)
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.repro import set_threads
from mtlnotes.training import progress

__all__ = ["FitResult", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``history``: one dict per epoch, ``{"epoch", "train_loss" (mean of the step values), "score"
    (``evaluate()``, or None), "seconds" (training time of that epoch, evaluation excluded)}``.
    ``best_epoch``/``best_score``: the selected epoch (the last one when there is no ``evaluate``).
    ``train_seconds``: total training time over all epochs, resumed ones included.
    """

    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float | None = None
    train_seconds: float = 0.0

    @property
    def scores(self) -> list[float | None]:
        return [h["score"] for h in self.history]

    @property
    def train_losses(self) -> list[float]:
        return [h["train_loss"] for h in self.history]


def _better(score: float, best: float | None, maximize: bool) -> bool:
    if best is None:
        return True
    return score > best if maximize else score < best


def fit(model: nn.Module, optimizer: torch.optim.Optimizer | None, step: Callable[[Any], float | torch.Tensor | None],
        batches: Callable[[int], Iterable[Any]], epochs: int, *,
        evaluate: Callable[[], float] | None = None, maximize: bool = True,
        scheduler: Any | None = None, checkpoint: CheckpointStore | None = None, key: str = "fit",
        restore_best: bool = True, threads: int | None = None, desc: str = "epochs",
        on_epoch_end: Callable[[int, dict], None] | None = None,
        extra_state: tuple[Callable[[], Any], Callable[[Any], None]] | None = None,
        stop: Callable[[FitResult], bool] | None = None) -> FitResult:
    """Train ``model`` for ``epochs`` epochs and keep the epoch with the best validation score.

    Parameters
    ----------
    step:
        ``step(batch)`` does one update (forward, loss, backward, optimiser step) and returns the batch loss
        (a float, a 0-d tensor, or None). The loop never looks inside a batch.
    batches:
        ``batches(epoch)`` returns the epoch's batches; seed any shuffling from ``epoch`` so that a resumed run
        sees the same order as an uninterrupted one.
    evaluate:
        called after every epoch with the model in eval mode; returns the selection score. Without it the last
        epoch is kept.
    maximize:
        whether a higher score is better (accuracy, IoU) or a lower one (loss).
    scheduler:
        anything with ``step()`` (and ``state_dict``), stepped once per epoch after training.
    checkpoint, key:
        when ``checkpoint`` stores to disk, the model, optimiser, scheduler, history and best state are saved
        under ``key`` after every epoch, and a rerun with the same store continues after the last saved epoch.
    restore_best:
        load the best epoch's weights into ``model`` before returning (default).
    threads:
        torch CPU threads for the run (:func:`mtlnotes.repro.set_threads`; None keeps the chapter's setting).
    on_epoch_end:
        ``on_epoch_end(epoch, record)`` after each epoch's record is made (for extra per-epoch logging, or
        per-epoch updates that must follow the evaluation, such as a scheduler stepped on the validation loss).
    extra_state:
        ``(get, set)`` for training state the loop does not own (a second network, random generators, an
        agent): ``get()`` is saved with every checkpoint and ``set(saved)`` is called on resume.
    stop:
        ``stop(result)`` is asked before each epoch; True ends training early (e.g. a time budget on
        ``result.train_seconds``).
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if threads is not None:
        set_threads(threads)
    result = FitResult()
    best_state = None
    start_epoch = 0
    saved = checkpoint.load_state(key) if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        if optimizer is not None and saved.get("optimizer") is not None:
            optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved.get("scheduler") is not None:
            scheduler.load_state_dict(saved["scheduler"])
        result.history = saved["history"]
        result.best_epoch, result.best_score = saved["best_epoch"], saved["best_score"]
        result.train_seconds = saved["train_seconds"]
        best_state = saved["best_state"]
        start_epoch = len(result.history)
        if extra_state is not None:
            extra_state[1](saved["extra"])

    for epoch in progress(range(start_epoch, epochs), desc=desc, initial=start_epoch, total=epochs):
        if stop is not None and stop(result):
            break
        model.train()
        losses = []
        t0 = time.perf_counter()
        for batch in batches(epoch):
            value = step(batch)
            if value is not None:
                losses.append(float(value.detach() if isinstance(value, torch.Tensor) else value))
        seconds = time.perf_counter() - t0
        if scheduler is not None:
            scheduler.step()
        score = None
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                score = float(evaluate())
            if math.isnan(score):
                raise FloatingPointError(f"{desc}: the validation score is NaN after epoch {epoch}; "
                                         f"lower the learning rate or check the data")
        record = {"epoch": epoch, "train_loss": sum(losses) / len(losses) if losses else None,
                  "score": score, "seconds": seconds}
        result.history.append(record)
        result.train_seconds += seconds
        if evaluate is None or _better(score, result.best_score, maximize):
            result.best_epoch, result.best_score = epoch, score
            best_state = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
        if checkpoint is not None:
            checkpoint.save_state(key, {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None and hasattr(scheduler, "state_dict")
                else None,
                "history": result.history, "best_epoch": result.best_epoch, "best_score": result.best_score,
                "train_seconds": result.train_seconds, "best_state": best_state,
                "extra": extra_state[0]() if extra_state is not None else None,
            })
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
