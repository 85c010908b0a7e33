"""GLUNet's Global Attention Module (Wang & Quan, ICANN 2021, §3.1, Fig. 2, Eqs. 1–2) and its parts.

* :class:`ResBlock` — two normalised 3×3 convolutions with an identity skip (Fig. 2, right).
* :class:`ChannelAttention`, :class:`SpatialAttention` — CBAM (Woo et al., ECCV 2018): average- and max-pooling
  along space → shared one-hidden-layer MLP → M_c; average- and max-pooling along channels → 7×7 conv → M_s.
* :class:`GAM` — A_G = R(R(F) ⊗ M_c ⊗ M_s) (Eq. 1), A_total = F + A_G (Eq. 2). ``res_before``/``res_after``
  give the ResBlock counts of Table 5 (Single 0/0, Single-Res1 1/0, Single-Res2 = GLUNet 1/1, Single-Res3 2/1,
  Single-Res4 2/2).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResBlock", "ChannelAttention", "SpatialAttention", "CBAM", "GAM", "TABLE5_VARIANTS"]

# Table 5 rows → (ResBlocks before CBAM, ResBlocks after CBAM)
TABLE5_VARIANTS: dict[str, tuple[int, int]] = {
    "Single": (0, 0), "Single-Res1": (1, 0), "Single-Res2": (1, 1), "Single-Res3": (2, 1), "Single-Res4": (2, 2)}


def norm_conv(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """A "normalised" k×k convolution: conv → batch norm → ReLU (§3.1, §3.2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """x + BN(conv3×3(ReLU(BN(conv3×3(x))))), then ReLU (Fig. 2, right). (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ChannelAttention(nn.Module):
    """M_c = σ(MLP(AvgPool(F)) + MLP(MaxPool(F))) — (B, C, H, W) → (B, C, 1, 1) (CBAM; GLUNet §3.1)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))  # C'_a
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))  # C'_m
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """M_s = σ(conv7×7([AvgPool_c(F'); MaxPool_c(F')])) — (B, C, H, W) → (B, 1, H, W) (CBAM; GLUNet §3.1)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # C''_a, C''_m
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """F' = M_c(F) ⊗ F, F'' = M_s(F') ⊗ F' (Woo et al., 2018). (B, C, H, W) → (B, C, H, W)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)
        return x * self.spatial(x)


class GAM(nn.Module):
    """Global Attention Module on a skip connection: F + R(CBAM(R(F))) (Eqs. 1–2). (B, C, H, W) → same."""

    def __init__(self, channels: int, res_before: int = 1, res_after: int = 1, reduction: int = 8) -> None:
        super().__init__()
        if res_before < 0 or res_after < 0:
            raise ValueError(f"ResBlock counts must be >= 0, got {res_before}, {res_after}")
        self.before = nn.Sequential(*[ResBlock(channels) for _ in range(res_before)])
        self.cbam = CBAM(channels, reduction)
        self.after = nn.Sequential(*[ResBlock(channels) for _ in range(res_after)])

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        a_g = self.after(self.cbam(self.before(f)))  # Eq. 1
        return f + a_g  # Eq. 2
