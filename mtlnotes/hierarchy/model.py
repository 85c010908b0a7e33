"""The MMF model and its loss (Li et al., 2021, §3.2 and Eq. 7).

A five-stage backbone; the conventional classification branch (CCB) classifies subclasses from the last
stage; one multiple-superclass classification branch (MSCB) per label structure ``H_m`` classifies that
structure's superclasses from the output of a chosen stage. Inference uses the CCB only (§3.5).

The paper does not give the branches' layers. Ours: CCB = global average pool → linear; MSCB = global
average pool → linear(``hidden``) → ReLU → linear (a little capacity, since early stages have few channels).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mtlnotes.hierarchy.backbones import FiveStageBackbone

__all__ = ["SuperclassBranch", "MMFNet", "mmf_loss"]


class SuperclassBranch(nn.Module):
    """An MSCB head: (B, C, H, W) map → (B, n_super) logits via GAP → linear → ReLU → linear."""

    def __init__(self, in_channels: int, n_super: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, n_super))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(F.adaptive_avg_pool2d(x, 1))


class MMFNet(nn.Module):
    """MMF (Fig. 2): ``backbone`` + CCB (``n_classes``) + one MSCB per ``(n_super, stage)`` in ``branches``.

    ``stage`` is 1-based (1..5): the branch reads that stage's output. ``branches=()`` is the flat
    classifier "w/o H". ``forward(x)`` returns ``(ccb_logits (B, n_classes), [mscb_logits_m (B, n_super_m)])``.
    """

    def __init__(self, backbone: FiveStageBackbone, n_classes: int, branches: Sequence[tuple[int, int]] = (),
                 hidden: int = 64) -> None:
        super().__init__()
        n_stages = len(backbone.stages)
        for n_super, stage in branches:
            if not 1 <= stage <= n_stages:
                raise ValueError(f"stage {stage} out of range for a {n_stages}-stage backbone (use 1..{n_stages})")
            if n_super < 1:
                raise ValueError(f"a superclass branch needs n_super >= 1, got {n_super}")
        self.backbone = backbone
        self.branch_stages = tuple(int(s) for _, s in branches)
        self.ccb = nn.Linear(backbone.channels[-1], n_classes)
        self.mscbs = nn.ModuleList(SuperclassBranch(backbone.channels[s - 1], n, hidden) for n, s in branches)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, channels[-1]): the last stage, globally average-pooled."""
        x_last = x
        for stage in self.backbone.stages:
            x_last = stage(x_last)
        return F.adaptive_avg_pool2d(x_last, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        maps = self.backbone(x)
        ccb = self.ccb(F.adaptive_avg_pool2d(maps[-1], 1).flatten(1))
        return ccb, [head(maps[s - 1]) for head, s in zip(self.mscbs, self.branch_stages)]

    def predict_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Inference by the CCB only (§3.5): (B, n_classes) logits."""
        return self.ccb(self.features(x))


def mmf_loss(ccb_logits: torch.Tensor, super_logits: Sequence[torch.Tensor], target: torch.Tensor,
             super_targets: Sequence[torch.Tensor], lambdas: Sequence[float]) -> torch.Tensor:
    """Eq. 7: ``(1 − λ)·CE(CCB) + Σ_m λ_m·CE(H_m branch)`` with ``λ = Σ_m λ_m`` (each λ_m ≥ 0, λ < 1).

    ccb_logits (B, C); super_logits[m] (B, S_m); target (B,); super_targets[m] (B,).
    """
    if not (len(super_logits) == len(super_targets) == len(lambdas)):
        raise ValueError(f"{len(super_logits)} branch outputs, {len(super_targets)} superclass targets and "
                         f"{len(lambdas)} lambdas: need one of each per structure")
    if any(lam < 0 for lam in lambdas):
        raise ValueError(f"constraint intensities must be >= 0, got {list(lambdas)}")
    lam = float(sum(lambdas))
    if lam >= 1:
        raise ValueError(f"lambda = sum of lambda_m must be < 1 (Eq. 7), got {lam}")
    loss = (1 - lam) * F.cross_entropy(ccb_logits, target)
    for logits, t, lam_m in zip(super_logits, super_targets, lambdas):
        loss = loss + lam_m * F.cross_entropy(logits, t)
    return loss
