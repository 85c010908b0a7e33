"""The multi-head QA model MHTQA (He et al., ICANN 2021, §3.1, Fig. 2): one shared encoder T_c, three heads.

``MultiHeadQA(encoder, diagram_inputs, hidden, max_choices, n_cdf_layers)``; :meth:`MultiHeadQA.scores`
maps a :class:`~mtlnotes.data.questions.QuestionSet` to logits: (n, 2) for T/F, (n, K) otherwise. The encoder
is pluggable (any module ``encoder(**inputs) -> (N, h)``); ``diagram_inputs`` turns a question's raw diagram
tensors into the object and text features (v^f, u^f) that CIDF fuses:

* :class:`FeatureDiagramInputs` — the paper's route: given object features (ResNet on detected regions) and
  text features (fastText ‖ GloVe ‖ BERT of recognised words), projected to h. One linear map of the
  concatenated text embeddings equals Eq. 3's ``u W_f + u W_g + u W_b`` with the three blocks of W.
* :class:`ImageDiagramInputs` — the offline route: object crops encoded by a small CNN, text tokens by an
  embedding table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.data.questions import QuestionSet
from mtlnotes.qa.heads import DiagramHead, MultipleChoiceHead, TrueFalseHead

__all__ = ["MultiHeadQA", "FeatureDiagramInputs", "ImageDiagramInputs", "question_loss", "question_accuracy"]


class FeatureDiagramInputs(nn.Module):
    """Given features → (v^f, u^f): ``obj_feats`` (n, N_o, d_o) → (n, N_o, h); ``text_feats`` (n, N_t, d_t) →
    (n, N_t, h) (Eq. 3 as one projection of the concatenated embeddings)."""

    def __init__(self, obj_dim: int, text_dim: int, hidden: int) -> None:
        super().__init__()
        self.obj = nn.Linear(obj_dim, hidden)
        self.text = nn.Linear(text_dim, hidden, bias=False)

    def forward(self, diagram: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.obj(diagram["obj_feats"]), self.text(diagram["text_feats"])


class ImageDiagramInputs(nn.Module):
    """Object crops ``obj_images`` (n, N_o, 1, 28, 28) → CNN features; ``text_tokens`` (n, N_t) → embeddings."""

    def __init__(self, hidden: int, n_tokens: int) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 5), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, hidden))
        self.tokens = nn.Embedding(n_tokens, hidden)

    def forward(self, diagram: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        imgs = diagram["obj_images"]
        n, n_o = imgs.shape[:2]
        v = self.cnn(imgs.reshape(n * n_o, *imgs.shape[2:])).reshape(n, n_o, -1)
        return v, self.tokens(diagram["text_tokens"])


class MultiHeadQA(nn.Module):
    """Shared encoder T_c with the Text T/F, Text MC and Diagram heads (Fig. 2)."""

    def __init__(self, encoder: nn.Module, diagram_inputs: nn.Module, hidden: int, max_choices: int = 4,
                 n_cdf_layers: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.diagram_inputs = diagram_inputs
        self.tf_head = TrueFalseHead(hidden)
        self.mc_head = MultipleChoiceHead(hidden, max_choices)
        self.diagram_head = DiagramHead(hidden, n_cdf_layers)
        self.hidden = hidden

    def encode(self, inputs: dict[str, torch.Tensor], per_choice: bool) -> torch.Tensor:
        """T_c on every (passage, question, answer) input: (n, …) → (n, h), or (n, K, …) → (n, K, h).

        An encoder with ``takes_choices = True`` gets the inputs as they are (it handles the K dimension)."""
        if not per_choice or getattr(self.encoder, "takes_choices", False):
            return self.encoder(**inputs)
        n, k = next(iter(inputs.values())).shape[:2]
        flat = {name: t.reshape(n * k, *t.shape[2:]) for name, t in inputs.items()}
        return self.encoder(**flat).reshape(n, k, -1)

    def scores(self, q: QuestionSet) -> torch.Tensor:
        """Logits for the questions in ``q``: (n, 2) for T/F (index 1 = true), (n, K) for MC and diagram."""
        if q.kind == "tf":
            return self.tf_head(self.encode(q.inputs, per_choice=False))
        c = self.encode(q.inputs, per_choice=True)
        if q.kind == "mc":
            return self.mc_head(c, q.choice_mask)
        v_f, u_f = self.diagram_inputs(q.diagram)
        return self.diagram_head(c, v_f, q.diagram["obj_boxes"], u_f, q.diagram["text_boxes"],
                                 q.diagram.get("obj_mask"), q.diagram.get("text_mask"), q.choice_mask)


def question_loss(model: MultiHeadQA, q: QuestionSet) -> torch.Tensor:
    """Cross-entropy of the right answer (every head is a softmax over its answers)."""
    return F.cross_entropy(model.scores(q), q.labels)


@torch.no_grad()
def question_accuracy(model: MultiHeadQA, q: QuestionSet, batch_size: int = 256) -> tuple[int, int]:
    """(correct, total) over ``q``, evaluated in batches."""
    correct = 0
    for start in range(0, len(q), batch_size):
        part = q.subset(torch.arange(start, min(start + batch_size, len(q))))
        correct += int((model.scores(part).argmax(dim=1) == part.labels).sum())
    return correct, len(q)
