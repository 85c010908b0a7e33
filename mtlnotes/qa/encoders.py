"""Shared context encoders T_c for the multi-head QA model (He et al., ICANN 2021, §3.1).

Every encoder maps a batch of inputs (leading dim N) to context features (N, h):

* :class:`PretrainedEncoder` — a ``transformers`` model (the paper: RoBERTa-large, §4.2); the first token's
  last hidden state is the context feature. Loading weights that are not on disk raises a clear
  :class:`~mtlnotes.data.cache.DataMissingError`.
* :class:`TokenTransformerEncoder` — a small transformer trained from scratch on token ids, for the TQA path
  where no pretrained weights exist.
* :class:`DigitContextEncoder` — the offline question types' encoder: a convolutional trunk for the image
  ("passage") fused with an embedding of the candidate answer (a digit), so that (passage, answer) → C as in T_c.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlnotes.data.cache import DataMissingError

__all__ = ["TokenTransformerEncoder", "PretrainedEncoder", "DigitContextEncoder"]


class TokenTransformerEncoder(nn.Module):
    """Token ids (N, T) with attention mask (N, T) → the first position's output (N, h)."""

    def __init__(self, vocab_size: int, hidden: int = 64, n_layers: int = 2, n_heads: int = 4,
                 max_len: int = 180) -> None:
        super().__init__()
        self.hidden, self.max_len = hidden, max_len
        self.tokens = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.positions = nn.Embedding(max_len, hidden)
        layer = nn.TransformerEncoderLayer(hidden, n_heads, dim_feedforward=2 * hidden, dropout=0.0,
                                           batch_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if input_ids.dim() != 2 or input_ids.shape[1] > self.max_len:
            raise ValueError(f"input_ids must be (N, T <= {self.max_len}), got {tuple(input_ids.shape)}")
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(pos)[None]
        x = self.layers(x, src_key_padding_mask=~attention_mask.bool())
        return self.norm(x[:, 0])


class PretrainedEncoder(nn.Module):
    """A ``transformers`` encoder (e.g. ``roberta-large``): (input_ids, attention_mask) → first token (N, h).

    ``model`` is a loaded ``PreTrainedModel`` or a name/path given to ``AutoModel.from_pretrained`` with
    ``local_files_only`` (no network here).
    """

    def __init__(self, model: nn.Module | str) -> None:
        super().__init__()
        if isinstance(model, str):
            from transformers import AutoModel

            try:
                model = AutoModel.from_pretrained(model, local_files_only=True)
            except OSError as exc:
                raise DataMissingError(
                    f"pretrained weights {model!r} are not on this machine ({exc.__class__.__name__}); "
                    f"download them once with transformers.AutoModel.from_pretrained({model!r}) where the "
                    f"network is available, or pass a local directory") from None
        self.model = model
        self.hidden = int(model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]


class DigitContextEncoder(nn.Module):
    """(image (N, 1, 28, 28), candidate digits (N,) or (N, K)) → context features (N, h) or (N, K, h).

    A LeNet-style trunk gives f(x) (N, h); the candidate's embedding e(a); C = ReLU(W [f; e; f ⊙ e]). The image
    (the "passage") is the same for every candidate of a question, so the trunk runs once per question
    (``takes_choices``: :class:`~mtlnotes.qa.model.MultiHeadQA` passes (N, K) candidates unflattened).
    """

    takes_choices = True

    def __init__(self, hidden: int = 64, n_answers: int = 10, width: int = 8) -> None:
        super().__init__()
        self.hidden, self.n_answers = hidden, n_answers
        self.trunk = nn.Sequential(
            nn.Conv2d(1, width, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 4 * 4, hidden), nn.ReLU())
        self.answers = nn.Embedding(n_answers, hidden)
        self.fuse = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.ReLU())

    def forward(self, image: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1:] != (1, 28, 28):
            raise ValueError(f"image must be (N, 1, 28, 28), got {tuple(image.shape)}")
        if answer.dim() not in (1, 2) or answer.shape[0] != image.shape[0]:
            raise ValueError(f"need candidates (N,) or (N, K) for N = {image.shape[0]} images, "
                             f"got {tuple(answer.shape)}")
        f = self.trunk(image)
        if answer.dim() == 2:
            f = f[:, None].expand(-1, answer.shape[1], -1)
        e = self.answers(answer)
        return self.fuse(torch.cat([f, e, f * e], dim=-1))
