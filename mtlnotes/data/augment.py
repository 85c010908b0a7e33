"""Image augmentation shared by the chapters: the standard CIFAR random crop (after zero padding) and horizontal
flip, drawn per image from a seeded generator (RL-AUX App. B's "standard transformations"; MMF's training on
natural images)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["random_crop_flip"]


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4, flip: bool = True) -> torch.Tensor:
    """The standard CIFAR augmentation: random crop after zero-padding by ``pad`` and (optionally) a random
    horizontal flip, drawn per image from ``generator``. x (B, C, H, W) -> (B, C, H, W)."""
    b, _, h, w = x.shape
    out = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy.view(b, 1) + torch.arange(h).view(1, h)).to(x.device)
    cols = (dx.view(b, 1) + torch.arange(w).view(1, w)).to(x.device)
    idx = torch.arange(b, device=x.device).view(b, 1, 1)
    out = out.permute(0, 2, 3, 1)[idx, rows.view(b, h, 1), cols.view(b, 1, w)].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        out = torch.where(mask.view(b, 1, 1, 1), out.flip(3), out)
    return out.contiguous()
