"""A container for encoded questions of one type, shared by the TQA path and the offline question types.

A :class:`QuestionSet` holds everything a multi-head QA model needs for n questions of one kind:

* ``kind``: ``"tf"`` (Text T/F), ``"mc"`` (multiple choice) or ``"diagram"`` (multiple choice with a diagram);
* ``inputs``: the shared encoder's inputs, tensors with leading dim n (``"tf"``) or (n, K) (one per candidate;
  an input shared by the K candidates, such as a passage image, may be stored once, (n, …));
* ``labels`` (n,) int64: 1 = true / 0 = false for ``"tf"``, the index of the correct candidate otherwise;
* ``choice_mask`` (n, K) bool, True for real candidates (None: all K are real);
* ``diagram``: the diagram's tensors for ``"diagram"`` questions (object inputs and boxes, text inputs and
  boxes, optional masks), leading dim n.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["QuestionSet", "KINDS"]

KINDS = ("tf", "mc", "diagram")


@dataclass(frozen=True)
class QuestionSet:
    kind: str
    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    choice_mask: torch.Tensor | None = None
    diagram: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"question kind must be one of {KINDS}, got {self.kind!r}")
        n = int(self.labels.shape[0])
        for name, t in {**self.inputs, **self.diagram}.items():
            if t.shape[0] != n:
                raise ValueError(f"{self.kind} questions: {n} labels but input {name!r} has {t.shape[0]} rows")
        if self.kind != "tf" and self.choice_mask is not None and self.choice_mask.shape[0] != n:
            raise ValueError(f"{self.kind} questions: choice_mask has {self.choice_mask.shape[0]} rows, not {n}")
        if self.kind == "diagram" and not self.diagram:
            raise ValueError("diagram questions need diagram tensors")
        if self.kind == "tf" and n and not bool(((self.labels == 0) | (self.labels == 1)).all()):
            raise ValueError("T/F labels must be 0 (false) or 1 (true)")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_choices(self) -> int:
        """K: 2 for T/F, else the candidate dimension of the inputs."""
        if self.kind == "tf":
            return 2
        if self.choice_mask is not None:
            return int(self.choice_mask.shape[1])
        return int(self.inputs["answer"].shape[1]) if "answer" in self.inputs else \
            int(next(iter(self.inputs.values())).shape[1])

    def subset(self, idx: torch.Tensor) -> "QuestionSet":
        """The questions at ``idx`` (a 1-D index tensor)."""
        return QuestionSet(self.kind, {k: v[idx] for k, v in self.inputs.items()}, self.labels[idx],
                           None if self.choice_mask is None else self.choice_mask[idx],
                           {k: v[idx] for k, v in self.diagram.items()})
