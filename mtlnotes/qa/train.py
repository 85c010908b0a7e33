"""Joint training of question types with a batch order (He et al., ICANN 2021, §3.5), on the shared loop.

:func:`train_question_types` trains a :class:`~mtlnotes.qa.model.MultiHeadQA` on one or more question types:
each epoch, every type's questions are shuffled into batches of its own size, the batches are ordered by
MQL (Eq. 9) or RRBS (Eq. 8) from :mod:`mtlnotes.scheduling.mql`, and :func:`mtlnotes.fit.fit` runs the epochs,
keeps the epoch with the best validation accuracy over all questions (§4.2) and checkpoints. Separate
("Independent") training is the same call with one type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.questions import QuestionSet
from mtlnotes.fit import FitResult, fit
from mtlnotes.qa.model import MultiHeadQA, question_accuracy, question_loss
from mtlnotes.repro import seed_everything
from mtlnotes.scheduling.mql import SCHEDULES
from mtlnotes.training import minibatches

__all__ = ["epoch_batches", "train_question_types", "evaluate_types", "Strategy", "STRATEGIES", "train_strategy"]


def epoch_batches(sizes: Mapping[str, int], batch_sizes: Mapping[str, int], schedule: str, seed: int,
                  epoch: int) -> list[tuple[str, torch.Tensor]]:
    """The epoch's ``(type, question indices)`` batches in the order of ``schedule`` ("mql" or "rrbs").

    Shuffling is seeded from ``(seed, epoch, type position)`` so that a resumed run sees the same batches.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    names = list(sizes)
    per_type = []
    for i, name in enumerate(names):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 101 + i)
        per_type.append(list(minibatches(int(sizes[name]), int(batch_sizes[name]), gen)))
    order = SCHEDULES[schedule]([len(b) for b in per_type])
    return [(names[t], per_type[t][r]) for t, r in order]


@torch.no_grad()
def evaluate_types(model: MultiHeadQA, sets: Mapping[str, QuestionSet]) -> dict[str, float]:
    """Accuracy per question type and ``"all"``, the accuracy over all questions pooled (Table 2's "All")."""
    was_training = model.training
    model.eval()
    out, correct, total = {}, 0, 0
    for name, q in sets.items():
        c, n = question_accuracy(model, q)
        out[name] = c / n if n else float("nan")
        correct, total = correct + c, total + n
    out["all"] = correct / total if total else float("nan")
    model.train(was_training)
    return out


def train_question_types(model: MultiHeadQA, train: Mapping[str, QuestionSet], val: Mapping[str, QuestionSet],
                         batch_sizes: Mapping[str, int], *, schedule: str = "mql", epochs: int = 4,
                         lr: float = 1e-3, seed: int = 0, checkpoint: CheckpointStore | None = None,
                         key: str = "qa", desc: str = "epochs") -> FitResult:
    """Train on the types in ``train`` (Adam, §4.2) with the ``schedule`` batch order; select the epoch by the
    pooled validation accuracy over the same types."""
    if not train:
        raise ValueError("need at least one question type to train on")
    missing = [t for t in train if t not in val or t not in batch_sizes]
    if missing:
        raise ValueError(f"no validation questions or batch size for {missing}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sizes = {name: len(q) for name, q in train.items()}

    def step(batch: tuple[str, torch.Tensor]) -> float:
        name, idx = batch
        loss = question_loss(model, train[name].subset(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return fit(model, opt, step, lambda epoch: epoch_batches(sizes, batch_sizes, schedule, seed, epoch), epochs,
               evaluate=lambda: evaluate_types(model, {t: val[t] for t in train})["all"],
               checkpoint=checkpoint, key=key, desc=desc)


@dataclass(frozen=True)
class Strategy:
    """A row of Table 2: which question types are trained, and whether jointly (with which batch order) or
    each type on its own model ("Independent")."""

    name: str
    types: tuple[str, ...]
    schedule: str = "mql"
    joint: bool = True


#: Table 2's training strategies (§4.4)
STRATEGIES = {
    "independent": Strategy("independent", ("tf", "mc", "diagram"), joint=False),
    "rrbs_all": Strategy("rrbs_all", ("tf", "mc", "diagram"), "rrbs"),
    "mql_all": Strategy("mql_all", ("tf", "mc", "diagram"), "mql"),
    "rrbs_text": Strategy("rrbs_text", ("tf", "mc"), "rrbs"),
    "mql_text": Strategy("mql_text", ("tf", "mc"), "mql"),
}


def train_strategy(make_model: Callable[[], MultiHeadQA], strategy: Strategy, train: Mapping[str, QuestionSet],
                   val: Mapping[str, QuestionSet], test: Mapping[str, QuestionSet],
                   batch_sizes: Mapping[str, int], *, epochs: int, lr: float, seed: int,
                   checkpoint: CheckpointStore | None = None, key: str = "qa") -> dict:
    """Train one strategy from ``make_model()`` (seeded here) and return plain data:
    ``{"test": {type: acc, "all": pooled acc}, "val": {...}, "best_epoch": {...}, "curves": {...}}``.
    Independent training uses one fresh model per type; the pooled "all" then counts every type's questions
    answered by its own model."""
    groups = [strategy.types] if strategy.joint else [(t,) for t in strategy.types]
    out: dict = {"test": {}, "val": {}, "best_epoch": {}, "curves": {}}
    correct = total = 0
    for group in groups:
        seed_everything(seed)
        model = make_model()
        part = "+".join(group)
        res = train_question_types(model, {t: train[t] for t in group}, val, batch_sizes,
                                   schedule=strategy.schedule, epochs=epochs, lr=lr, seed=seed,
                                   checkpoint=checkpoint, key=f"{key}-{part}", desc=f"{strategy.name} {part}")
        accs = evaluate_types(model, {t: test[t] for t in group})
        vals = evaluate_types(model, {t: val[t] for t in group})
        for t in group:
            out["test"][t], out["val"][t] = accs[t], vals[t]
            correct += accs[t] * len(test[t])
            total += len(test[t])
        out["best_epoch"][part] = res.best_epoch
        out["curves"][part] = {"val_all": res.scores, "train_loss": res.train_losses}
    out["test"]["all"] = correct / total
    return out
