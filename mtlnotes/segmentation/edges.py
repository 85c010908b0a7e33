"""Edge targets for GLUNet's edge head, derived from the segmentation masks.

The paper (Wang & Quan, ICANN 2021, §3.2) supervises the LEDM with edge maps but does not say how they are made.
We take the inner contour of every object: a foreground pixel is an edge pixel when one of its 4-neighbours
(within ``width`` steps) carries a different label. Given an instance-label map (0 = background, k = object k),
the borders between touching nuclei count as edges too; given a binary mask it is mask minus its erosion.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["edge_targets"]


def edge_targets(labels: np.ndarray | torch.Tensor, width: int = 1) -> np.ndarray | torch.Tensor:
    """Inner object contours of ``labels`` (…, H, W) (bool or int instance labels) → bool (…, H, W).

    Image borders do not count as a different label (an object cut by the frame has no edge there).
    """
    if width < 1:
        raise ValueError(f"edge width must be >= 1, got {width}")
    as_tensor = isinstance(labels, torch.Tensor)
    lab = torch.as_tensor(labels).long()
    if lab.dim() < 2:
        raise ValueError(f"labels must be (..., H, W), got shape {tuple(lab.shape)}")
    edge = torch.zeros(lab.shape, dtype=torch.bool)
    cur = lab
    for _ in range(width):
        pad = torch.nn.functional.pad(cur.unsqueeze(0).float() if cur.dim() == 2 else cur.float(),
                                      (1, 1, 1, 1), mode="replicate").long()
        if cur.dim() == 2:
            pad = pad[0]
        neighbours = (pad[..., :-2, 1:-1], pad[..., 2:, 1:-1], pad[..., 1:-1, :-2], pad[..., 1:-1, 2:])
        for nb in neighbours:
            edge |= (lab > 0) & (nb != lab)
        # grow the "different" region inwards for wider edges: mark edge pixels as background
        cur = torch.where(edge, torch.zeros_like(lab), lab)
    return edge if as_tensor else edge.numpy()
