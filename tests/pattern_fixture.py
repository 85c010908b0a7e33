"""Four classes of noisy 28×28 patterns that a small global-average-pooled CNN can tell apart in one epoch:
horizontal stripes, vertical stripes, a checkerboard, a blank image (class ``i % 4`` for sample ``i``)."""

from __future__ import annotations

import torch


def noisy_patterns(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, 1, 28, 28) float, y (n,) long), deterministic given ``seed``."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.2
    r = torch.arange(28)
    patterns = [(r[:, None] // 2 % 2).expand(28, 28), (r[None, :] // 2 % 2).expand(28, 28),
                ((r[:, None] // 2 + r[None, :] // 2) % 2), torch.zeros(28, 28, dtype=torch.long)]
    for c in range(4):
        x[y == c, 0] += 0.8 * patterns[c].float()
    return x, y
