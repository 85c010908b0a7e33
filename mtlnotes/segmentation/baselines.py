"""The segmentation models a GLUNet experiment compares: GLUNet ablations (Table 4) and MONAI's U-Net variants.

Baselines of Table 2 that a well-kept library ships are taken from MONAI rather than hand-written:
``monai.networks.nets.AttentionUnet`` (Attention U-Net, Oktay et al. 2018) and ``BasicUNetPlusPlus``
(U-Net++, Zhou et al. 2018). Every model returns ``(seg_logits (B, 2, H, W), edge_logits or None)``.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlnotes.segmentation.attention import TABLE5_VARIANTS
from mtlnotes.segmentation.glunet import GLUNet

__all__ = ["MODEL_NAMES", "make_model", "TupleOutput"]

# Table 4 rows (GLUNet ablations) and Table 2 baselines from MONAI
MODEL_NAMES = ("U-Net", "U-Net + LEDM", "U-Net + GAM", "GLUNet", "Attention U-Net", "U-Net++")


class TupleOutput(nn.Module):
    """Wraps a single-output segmentation network so it returns ``(logits, None)`` like :class:`GLUNet`."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        out = self.net(x)
        if isinstance(out, (list, tuple)):  # BasicUNetPlusPlus returns a list of deep-supervision outputs
            out = out[-1]
        return out, None


def make_model(name: str, *, in_channels: int = 3, width: int = 32, depth: int = 5,
               gam_variant: str = "Single-Res2") -> nn.Module:
    """A model by its table name (:data:`MODEL_NAMES`), ``width`` channels at the first level."""
    if gam_variant not in TABLE5_VARIANTS:
        raise ValueError(f"unknown GAM variant {gam_variant!r}; choose from {sorted(TABLE5_VARIANTS)}")
    flags = {"U-Net": (False, False), "U-Net + LEDM": (False, True), "U-Net + GAM": (True, False),
             "GLUNet": (True, True)}
    if name in flags:
        gam, ledm = flags[name]
        return GLUNet(in_channels, 2, width, depth, use_gam=gam, use_ledm=ledm, gam_res=TABLE5_VARIANTS[gam_variant])
    if name == "Attention U-Net":
        from monai.networks.nets import AttentionUnet
        return TupleOutput(AttentionUnet(spatial_dims=2, in_channels=in_channels, out_channels=2,
                                         channels=tuple(width * 2 ** k for k in range(depth)),
                                         strides=(2,) * (depth - 1)))
    if name == "U-Net++":
        from monai.networks.nets import BasicUNetPlusPlus
        if depth != 5:
            raise ValueError("MONAI's BasicUNetPlusPlus has a fixed depth of 5 levels")
        return TupleOutput(BasicUNetPlusPlus(spatial_dims=2, in_channels=in_channels, out_channels=2,
                                             features=tuple(width * 2 ** k for k in range(5)) + (width,)))
    raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES}")
