"""Training the main network on Eq. 2 / Eq. 7 of RL-AUX (Goldfeder, So & Lipson) and evaluating it.

``loss = mean_i [ CE(f_primary(x_i), y_i) + lambda_i * focal(f_aux(x_i), t_i) ]`` where t_i is an auxiliary
label (an index, e.g. the human fine label or the agent's choice) or a label distribution (MAXL), and
lambda_i is the task weight λ (Eq. 2) or a per-sample weight (Eq. 7). No auxiliary target: single-task.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.auxiliary.losses import focal_loss
from mtlnotes.data.augment import random_crop_flip  # noqa: F401  (re-exported: the chapter's name for it)

__all__ = ["auxiliary_objective", "train_step", "evaluate_primary", "random_crop_flip", "make_optimizer"]


def auxiliary_objective(primary_logits: torch.Tensor, aux_logits: torch.Tensor, y: torch.Tensor,
                        aux_target: torch.Tensor | None, aux_weight: torch.Tensor | float = 1.0,
                        focal_gamma: float = 2.0) -> torch.Tensor:
    """Eq. 2 (scalar ``aux_weight`` = λ) or Eq. 7 (``aux_weight`` (B,) per sample), averaged over the batch.

    primary_logits (B, C); aux_logits (B, K); y (B,); aux_target (B,) indices, (B, K) distributions or None.
    """
    loss = F.cross_entropy(primary_logits, y, reduction="none")
    if aux_target is not None:
        loss = loss + aux_weight * focal_loss(aux_logits, aux_target, focal_gamma)
    return loss.mean()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               aux_target: torch.Tensor | None, aux_weight: torch.Tensor | float = 1.0,
               focal_gamma: float = 2.0) -> float:
    """One SGD step of the main network on :func:`auxiliary_objective`; returns the loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    p, a = model(x)
    loss = auxiliary_objective(p, a, y, aux_target, aux_weight, focal_gamma)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate_primary(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
                     device: torch.device | str | None = None) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the primary head on (x (N, ...), y (N,)), in eval mode."""
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set")
    was = model.training
    model.eval()
    correct, total_loss = 0, 0.0
    for s in range(0, len(x), batch_size):
        xb, yb = x[s:s + batch_size], y[s:s + batch_size]
        if device is not None:
            xb, yb = xb.to(device), yb.to(device)
        logits = model(xb)[0]
        correct += int((logits.argmax(1) == yb).sum())
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
    model.train(was)
    return correct / len(x), total_loss / len(x)


@torch.no_grad()
def precision_recall_f1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000,
                        device: torch.device | str | None = None) -> dict[str, float]:
    """Macro-averaged precision, recall and F1 of the primary head on (x, y), in eval mode (RL-AUX App. A.3,
    Figs. 11–12), computed by scikit-learn; a class never predicted has precision 0."""
    from sklearn.metrics import precision_recall_fscore_support
    was = model.training
    model.eval()
    preds = [model(x[s:s + batch_size].to(device) if device is not None else x[s:s + batch_size])[0].argmax(1).cpu()
             for s in range(0, len(x), batch_size)]
    model.train(was)
    p, r, f, _ = precision_recall_fscore_support(y.cpu().numpy(), torch.cat(preds).numpy(), average="macro",
                                                 zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4,
                   step: int = 50, gamma: float = 0.5):
    """SGD with a step scheduler (RL-AUX Appendix B: lr 0.01, step 50 epochs, gamma 0.5) -> (optimizer, scheduler)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)
