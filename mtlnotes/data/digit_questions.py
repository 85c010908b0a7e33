"""Three question types built from real MNIST digits, standing in for TQA's (He et al., ICANN 2021, §4.1).

TQA (and the RoBERTa weights MHTQA starts from) is not available offline, so the multi-task experiment uses
three question types that differ, as TQA's do, in input format, number of candidates and size. All questions
are about the same kind of content (handwritten digits, the "lesson"), the answers come from one vocabulary
(the ten digit names), and every image is used by one question only (disjoint sets allocated by
:func:`mtlnotes.data.tasks_offline.build_task_suite`; test questions use the official MNIST test split).

* **T/F** (``"tf"``): an image and a claimed digit; *is the image that digit?* The claim is the true digit with
  probability 1/2, else a uniformly drawn other digit. Label 1 = true.
* **MC** (``"mc"``): an image and ``k`` candidate digits (the true one and ``k − 1`` distinct others, in random
  order); *which candidate is the image?*
* **Diagram** (``"diagram"``): as MC, but the image is occluded (only its top ``keep_rows`` rows are kept) and
  the question comes with a "diagram": ``n_objects`` clean digit images (objects) at random cells of a 2 × 2
  canvas with their boxes, and as many text tokens (the digit names of the objects) placed under their objects,
  listed in an independent random order (so a name is tied to its object only through the boxes). The objects
  show the true digit and ``n_objects − 1`` of the wrong candidates; object images come from a separate pool.

Inputs follow :class:`~mtlnotes.data.questions.QuestionSet`: encoder inputs ``image`` (n, 1, 28, 28)
(one passage per question) and ``answer`` (n,) for T/F or (n, K); diagram tensors ``obj_images`` (n, N_o, 1, 28, 28),
``obj_boxes`` (n, N_o, 4), ``text_tokens`` (n, N_t), ``text_boxes`` (n, N_t, 4), boxes as (x0, y0, x1, y1)
in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from mtlnotes.data.mnist import ImageDataset, load_mnist
from mtlnotes.data.questions import QuestionSet
from mtlnotes.data.tasks_offline import OfflineTask, build_task_suite

__all__ = ["DigitQuestions", "make_tf", "make_mc", "make_diagram", "build_digit_questions", "TYPES"]

TYPES = ("tf", "mc", "diagram")
_CELLS = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])  # 2 x 2 canvas cells (x0, y0)


@dataclass(frozen=True)
class DigitQuestions:
    """``train``, ``val`` and ``test`` question sets, each ``{type: QuestionSet}`` for ``TYPES``."""

    train: dict[str, QuestionSet]
    val: dict[str, QuestionSet]
    test: dict[str, QuestionSet]

    def sizes(self) -> dict[str, dict[str, int]]:
        return {split: {t: len(q) for t, q in getattr(self, split).items()} for split in ("train", "val", "test")}


def _other_digits(y: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """(n, k) distinct digits different from y (n,), uniformly drawn."""
    scores = torch.rand(len(y), 10, generator=gen)
    scores[torch.arange(len(y)), y] = -1.0  # never pick the true digit
    return scores.argsort(dim=1, descending=True)[:, :k]


def make_tf(images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> QuestionSet:
    """T/F questions: claim = true digit with probability 1/2, else another digit."""
    true = torch.rand(len(labels), generator=gen) < 0.5
    claim = torch.where(true, labels, _other_digits(labels, 1, gen)[:, 0])
    return QuestionSet("tf", {"image": images, "answer": claim}, true.long())


def _candidates(labels: torch.Tensor, k: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, k) candidates (true digit + k − 1 others, shuffled) and the index of the true one (n,)."""
    if not 2 <= k <= 10:
        raise ValueError(f"need 2 to 10 candidates per question, got {k}")
    cand = torch.cat([labels[:, None], _other_digits(labels, k - 1, gen)], dim=1)
    perm = torch.rand(len(labels), k, generator=gen).argsort(dim=1)
    cand = cand.gather(1, perm)
    return cand, (perm == 0).long().argmax(dim=1)


def make_mc(images: torch.Tensor, labels: torch.Tensor, k: int, gen: torch.Generator) -> QuestionSet:
    """Multiple-choice questions with ``k`` candidate digits."""
    cand, y = _candidates(labels, k, gen)
    return QuestionSet("mc", {"image": images, "answer": cand}, y)


def make_diagram(images: torch.Tensor, labels: torch.Tensor, pool: ImageDataset | tuple[torch.Tensor, torch.Tensor],
                 k: int, n_objects: int, keep_rows: int, gen: torch.Generator) -> QuestionSet:
    """Diagram questions: occluded image, ``k`` candidates, ``n_objects`` objects drawn from ``pool``."""
    if not 2 <= n_objects <= min(k, 4):
        raise ValueError(f"n_objects must be in [2, min(k, 4)] (a 2 x 2 canvas), got {n_objects} with k={k}")
    if not 1 <= keep_rows <= 28:
        raise ValueError(f"keep_rows must be in [1, 28], got {keep_rows}")
    pool_x, pool_y = (pool.images, pool.labels) if isinstance(pool, ImageDataset) else pool
    n = len(labels)
    cand, y = _candidates(labels, k, gen)
    occluded = images.clone()
    occluded[:, :, keep_rows:, :] = 0.0
    # objects: the true digit and n_objects - 1 wrong candidates, in random order
    wrong = cand.masked_fill(torch.nn.functional.one_hot(y, k).bool(), -1)
    pick = torch.rand(n, k, generator=gen).masked_fill(wrong < 0, -1.0).argsort(dim=1, descending=True)
    obj_cls = torch.cat([labels[:, None], wrong.gather(1, pick[:, :n_objects - 1])], dim=1)
    obj_cls = obj_cls.gather(1, torch.rand(n, n_objects, generator=gen).argsort(dim=1))
    by_class = [torch.nonzero(pool_y == d).flatten() for d in range(10)]
    if any(len(ix) == 0 for ix in by_class):
        raise ValueError("the object pool must contain every digit")
    obj_idx = torch.empty(n, n_objects, dtype=torch.long)
    for d in range(10):
        where = obj_cls == d
        draws = torch.randint(len(by_class[d]), (int(where.sum()),), generator=gen)
        obj_idx[where] = by_class[d][draws]
    cells = torch.rand(n, 4, generator=gen).argsort(dim=1)[:, :n_objects]  # (n, N_o) cell per object
    origin = _CELLS[cells] + 0.05 * torch.rand(n, n_objects, 2, generator=gen)
    obj_boxes = torch.cat([origin, origin + 0.35], dim=-1)
    text_boxes_o = torch.cat([origin + torch.tensor([0.0, 0.37]), origin + torch.tensor([0.35, 0.45])], dim=-1)
    text_perm = torch.rand(n, n_objects, generator=gen).argsort(dim=1)  # names listed in another order
    text_tokens = obj_cls.gather(1, text_perm)
    text_boxes = text_boxes_o.gather(1, text_perm[..., None].expand(-1, -1, 4))
    return QuestionSet("diagram", {"image": occluded, "answer": cand}, y,
                       diagram={"obj_images": pool_x[obj_idx], "obj_boxes": obj_boxes,
                                "text_tokens": text_tokens, "text_boxes": text_boxes})


def build_digit_questions(n_train: Mapping[str, int], n_val: Mapping[str, int], n_test: Mapping[str, int], *,
                          pool: tuple[int, int] = (2000, 1000), k: int = 4, n_objects: int = 3,
                          keep_rows: int = 12, seed: int = 0, root=None, download: bool = False,
                          sources: Mapping[str, tuple[ImageDataset, ImageDataset]] | None = None) -> DigitQuestions:
    """The three question types from the verified MNIST files (or ``sources["mnist"] = (train, test)``).

    ``n_train``/``n_val``/``n_test`` map each of ``TYPES`` to a number of questions; ``pool`` is the number of
    (train, test) object images for diagrams. Images are disjoint between types, splits and the pool.
    """
    for name, counts in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if set(counts) != set(TYPES) or any(int(v) < 1 for v in counts.values()):
            raise ValueError(f"{name} must give a positive count for each of {TYPES}, got {dict(counts)}")
    digits = tuple(range(10))
    tasks = [OfflineTask(t, "mnist", digits, digits, n_train[t] + n_val[t], n_test[t]) for t in TYPES]
    tasks.append(OfflineTask("diagram-objects", "mnist", digits, digits, pool[0], pool[1]))
    if sources is None:
        sources = {"mnist": (load_mnist("train", root, download), load_mnist("test", root, download))}
    train_set, test_set = build_task_suite(sources, tasks, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    pools = {"train": (train_set.x[3], train_set.y[3]), "test": (test_set.x[3], test_set.y[3])}
    out: dict[str, dict[str, QuestionSet]] = {"train": {}, "val": {}, "test": {}}
    for i, t in enumerate(TYPES):
        parts = {"train": (train_set.x[i][:n_train[t]], train_set.y[i][:n_train[t]]),
                 "val": (train_set.x[i][n_train[t]:], train_set.y[i][n_train[t]:]),
                 "test": (test_set.x[i], test_set.y[i])}
        for split, (x, y) in parts.items():
            if t == "tf":
                out[split][t] = make_tf(x, y, gen)
            elif t == "mc":
                out[split][t] = make_mc(x, y, k, gen)
            else:
                out[split][t] = make_diagram(x, y, pools["test" if split == "test" else "train"], k, n_objects,
                                             keep_rows, gen)
    return DigitQuestions(out["train"], out["val"], out["test"])
