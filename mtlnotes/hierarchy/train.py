"""Training and evaluating an MMF model with the multi-task loss of Eq. 7 (Li et al., 2021, §3.5)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mtlnotes.data.augment import random_crop_flip
from mtlnotes.hierarchy.model import MMFNet, mmf_loss
from mtlnotes.repro import torch_generator
from mtlnotes.training import minibatches, predict, progress

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
              save_state: Callable[[dict], None] | None = None, state: dict | None = None) -> list[float]:
    """Minimise Eq. 7 over (x (N, C, H, W), y (N,), super_ys[m] (N,)) and return the mean loss of each epoch.

    Batches are drawn with a generator seeded by ``seed``. ``save_state(dict)`` is called after each epoch
    with model/optimiser/epoch state; passing such a ``state`` back resumes from it.
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
    start_epoch = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
    for _ in progress(range(start_epoch, settings.epochs), desc="epochs", initial=start_epoch,
                      total=settings.epochs):
        model.train()
        total_loss, n_seen = 0.0, 0
        for idx in minibatches(x.shape[0], settings.batch_size, gen):
            xb = _as_float(x[idx]).to(device)
            if settings.augment:
                xb = augment_batch(xb.cpu(), gen).to(device)
            ccb, sup = model(xb)
            loss = mmf_loss(ccb, sup, y[idx].to(device), [s[idx].to(device) for s in super_ys], lambdas)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
            n_seen += len(idx)
        history.append(total_loss / n_seen)
        if save_state is not None:
            save_state({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "generator": gen.get_state(), "history": history, "epoch": len(history)})
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
