"""Training and evaluating an MMF model with the multi-task loss of Eq. 7 (Li et al., 2021, §3.5)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mtlnotes.checkpoint import CheckpointStore
from mtlnotes.data.augment import random_crop_flip
from mtlnotes.fit import fit
from mtlnotes.hierarchy.model import MMFNet, mmf_loss
from mtlnotes.repro import torch_generator
from mtlnotes.training import minibatches, predict

__all__ = ["TrainSettings", "train_mmf", "predict_classes", "extract_features", "augment_batch"]


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation knobs (the paper does not report them; see the chapter for the values used)."""

    epochs: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9, nesterov off)
    momentum: float = 0.9
    weight_decay: float = 0.0
    cosine: bool = True  # cosine learning-rate decay over all steps
    augment: bool = False  # random crop (pad 4) + horizontal flip, for natural images

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {self}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop after zero-padding by ``pad`` and random horizontal flip: (B, C, H, W) → same shape
    (:func:`mtlnotes.data.augment.random_crop_flip`)."""
    return random_crop_flip(x, generator, pad=pad, flip=True)


def train_mmf(model: MMFNet, x: torch.Tensor, y: torch.Tensor, super_ys: Sequence[torch.Tensor],
              lambdas: Sequence[float], settings: TrainSettings, seed: int, device: torch.device | str = "cpu",
              checkpoint: CheckpointStore | None = None, key: str = "mmf") -> list[float]:
    """Minimise Eq. 7 over (x (N, C, H, W), y (N,), super_ys[m] (N,)) on :func:`mtlnotes.fit.fit` and return the
    mean loss of each epoch (weighted by batch size). The last epoch is kept (no model selection).

    Batches (and the augmentation) are drawn with a generator seeded by ``seed``. With ``checkpoint`` the run is
    saved under ``key`` after every epoch (model, optimiser, the per-step learning-rate schedule, the generator)
    and a rerun resumes where it stopped.
    """
    if len(super_ys) != len(model.mscbs) or len(lambdas) != len(model.mscbs):
        raise ValueError(f"model has {len(model.mscbs)} superclass branches but got {len(super_ys)} superclass "
                         f"label sets and {len(lambdas)} lambdas")
    if x.shape[0] != y.shape[0] or any(s.shape[0] != y.shape[0] for s in super_ys):
        raise ValueError("inputs, subclass labels and superclass labels must have the same length")
    device = torch.device(device)
    model.to(device)
    params = model.parameters()
    if settings.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(x.shape[0] / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total))) if settings.cosine else (lambda s: 1.0))
    gen = torch_generator(seed)
    history: list[float] = []
    epoch_loss = {"sum": 0.0, "seen": 0}

    def step(idx: torch.Tensor) -> None:
        xb = _as_float(x[idx]).to(device)
        if settings.augment:
            xb = augment_batch(xb.cpu(), gen).to(device)
        ccb, sup = model(xb)
        loss = mmf_loss(ccb, sup, y[idx].to(device), [s[idx].to(device) for s in super_ys], lambdas)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()  # the cosine schedule moves every step
        epoch_loss["sum"] += loss.item() * len(idx)
        epoch_loss["seen"] += len(idx)

    def end_epoch(epoch: int, record: dict) -> None:
        history.append(epoch_loss["sum"] / epoch_loss["seen"])
        epoch_loss.update(sum=0.0, seen=0)

    def get_state() -> dict:
        return {"scheduler": sched.state_dict(), "generator": gen.get_state(), "history": list(history)}

    def set_state(saved: dict) -> None:
        sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        history[:] = saved["history"]

    # the generator draws each epoch's permutation and the augmentation in turn, so it is saved, not replayed
    fit(model, opt, step, lambda epoch: minibatches(x.shape[0], settings.batch_size, gen), settings.epochs,
        checkpoint=checkpoint, key=key, on_epoch_end=end_epoch, extra_state=(get_state, set_state))
    return history


@torch.no_grad()
def predict_classes(model: MMFNet, x: torch.Tensor, device: torch.device | str = "cpu",
                    batch_size: int = 1000) -> torch.Tensor:
    """Subclass predictions (N,) by the CCB only (§3.5)."""
    model.eval()
    logits = predict(lambda xb: model.predict_logits(_as_float(xb)), x, batch_size=batch_size, device=device)
    return logits.argmax(1)


@torch.no_grad()
def extract_features(model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu",
                     batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features (N, d) of a trained model (for H_A and the SVM baselines)."""
    model.eval()
    return predict(lambda xb: model.features(_as_float(xb)), x, batch_size=batch_size, device=device)
