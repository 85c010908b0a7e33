"""GLUNet: a U-Net with GAM on the skip connections and an edge head (LEDM) (Wang & Quan, ICANN 2021, §3, Fig. 1).

Shapes for an input (B, in_channels, H, W) with H, W divisible by 2^(depth−1):

* encoder E_1 … E_depth: two normalised 3×3 convolutions per level, max-pooling between levels; E_k has
  ``width · 2^(k−1)`` channels at resolution H / 2^(k−1);
* skip connections: E_k → GAM(E_k) (§3.1) when ``use_gam``, else E_k unchanged (the plain U-Net);
* decoder: transposed-convolution upsampling, concatenation with the skip, two normalised 3×3 convolutions;
* LEDM (§3.2, Eq. 3) when ``use_ledm``: each of E_1 … E_{depth−1} is upsampled to E_1's resolution (×1, ×2,
  ×4, ×8), passed through its Edge Block (normalised 1×1 then 3×3 convolution), scaled by a weight that halves
  from block to block ("the weights of features of each edge block decrease as the number of block increases"),
  and concatenated. One 1×1 convolution predicts the edge map (the edge side-output, 2 classes); another 1×1
  convolution gives features that are concatenated with the last decoder features before the final normalised
  3×3 convolution;
* segmentation head: 1×1 convolution → (B, n_classes, H, W) logits.

``forward`` returns ``(seg_logits, edge_logits)``; ``edge_logits`` is None without LEDM.
The paper's encoder uses DenseNet-121 dense blocks; this one is the plain U-Net encoder of the issue and of
Table 4's "Backbone" row (the difference is said in the chapter).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mtlnotes.segmentation.attention import GAM, norm_conv

__all__ = ["GLUNet", "EdgeBlock", "LEDM"]


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(norm_conv(c_in, c_out, 3), norm_conv(c_out, c_out, 3))


class EdgeBlock(nn.Module):
    """C_3×3(C_1×1(x)) of Eq. 3: a normalised 1×1 then 3×3 convolution. (B, C, H, W) → (B, out, H, W)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(norm_conv(c_in, c_out, 1), norm_conv(c_out, c_out, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LEDM(nn.Module):
    """Local Edge Detection Module (§3.2): encoder features → (edge logits (B, 2, H, W), fused features (B, F, H, W))."""

    def __init__(self, in_channels: tuple[int, ...], edge_channels: int, fuse_channels: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([EdgeBlock(c, edge_channels) for c in in_channels])
        self.register_buffer("weights", torch.tensor([0.5 ** k for k in range(len(in_channels))]))
        cat = edge_channels * len(in_channels)
        self.edge_head = nn.Conv2d(cat, 2, 1)
        self.fuse = nn.Conv2d(cat, fuse_channels, 1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        size = feats[0].shape[-2:]
        parts = []
        for k, (x, block) in enumerate(zip(feats, self.blocks)):
            if k > 0:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # ×2^k
            parts.append(block(x) * self.weights[k])
        cat = torch.cat(parts, dim=1)
        return self.edge_head(cat), self.fuse(cat)


class GLUNet(nn.Module):
    """GLUNet (Fig. 1); ``use_gam=False, use_ledm=False`` is the plain U-Net backbone (Table 4, first row)."""

    def __init__(self, in_channels: int = 3, n_classes: int = 2, width: int = 32, depth: int = 5, *,
                 use_gam: bool = True, use_ledm: bool = True, gam_res: tuple[int, int] = (1, 1),
                 edge_channels: int | None = None) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        self.depth, self.use_gam, self.use_ledm = depth, use_gam, use_ledm
        chans = [width * 2 ** k for k in range(depth)]
        self.encoders = nn.ModuleList(
            [_double_conv(in_channels if k == 0 else chans[k - 1], chans[k]) for k in range(depth)])
        self.gams = nn.ModuleList([GAM(c, *gam_res) if use_gam else nn.Identity() for c in chans[:-1]])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(chans[k + 1], chans[k], 2, stride=2) for k in range(depth - 1)])
        self.decoders = nn.ModuleList([_double_conv(2 * chans[k], chans[k]) for k in range(depth - 1)])
        fuse = 0
        if use_ledm:
            fuse = width
            self.ledm = LEDM(tuple(chans[:-1]), edge_channels or max(width // 2, 2), fuse)
        self.final = norm_conv(chans[0] + fuse, chans[0], 3)  # "the last normalized 3×3 convolution layer"
        self.head = nn.Conv2d(chans[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        div = 2 ** (self.depth - 1)
        if x.shape[-1] % div or x.shape[-2] % div:
            raise ValueError(f"input height and width must be divisible by {div}, got {tuple(x.shape[-2:])}")
        feats = []
        for k, enc in enumerate(self.encoders):
            x = enc(x if k == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        y = feats[-1]
        for k in reversed(range(self.depth - 1)):
            y = self.decoders[k](torch.cat([self.gams[k](feats[k]), self.ups[k](y)], dim=1))
        edge = None
        if self.use_ledm:
            edge, fused = self.ledm(feats[:-1])
            y = torch.cat([y, fused], dim=1)
        return self.head(self.final(y)), edge
