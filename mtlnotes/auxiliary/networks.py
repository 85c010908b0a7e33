"""Networks of RL-AUX (Goldfeder, So & Lipson, Appendix C) and MAXL (Liu, Davison & Johns, 2019, §4).

* :func:`vgg16_trunk`: the VGG16 convolutional trunk (13 conv 3×3 + BatchNorm + ReLU layers in five
  max-pooled stages, 64-128-256-512-512 channels) used by MAXL and RL-AUX; (B, 3, 32, 32) -> (B, 512).
* :func:`small_cnn_trunk`: three conv blocks (8-16-32 channels, each 3×3 conv + BatchNorm + ReLU + 2×2 pool)
  for the quick profile on 28×28 images; (B, 1, 28, 28) -> (B, 288).
* :class:`AuxNet`: the main network f of Eq. 2, a trunk with two heads (primary, auxiliary); each head is two
  linear layers, the first to ``hidden`` (512 in the paper) features (Appendix C.1).
* :class:`LabelNet`: MAXL's label-generation network, a trunk with a head over the K = psi·C auxiliary
  classes (masked by Eqs. 5–6) and, for WA-MAXL, a weight head with a sigmoid output scaled by Eq. 8.
"""

from __future__ import annotations

import torch
from torch import nn

from mtlnotes.auxiliary.losses import masked_log_softmax
from mtlnotes.models.backbones import VGG16_STAGES, conv_bn_relu, vgg16_stages

__all__ = ["VGG16_STAGES", "vgg16_trunk", "small_cnn_trunk", "make_trunk", "two_layer_head", "AuxNet", "LabelNet"]


def vgg16_trunk(in_channels: int = 3) -> nn.Sequential:
    """VGG16 (Simonyan & Zisserman, 2015) conv trunk with BatchNorm, as in MAXL/RL-AUX: 32×32 input -> 512 features
    (:func:`mtlnotes.models.backbones.vgg16_stages`, then global average pooling)."""
    return nn.Sequential(*vgg16_stages(in_channels), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def small_cnn_trunk(in_channels: int = 1, widths: tuple[int, ...] = (8, 16, 32)) -> nn.Sequential:
    """The quick profile's small CNN: per width a 3×3 conv + BatchNorm + ReLU + 2×2 max-pool, then flatten."""
    layers: list[nn.Module] = []
    c = in_channels
    for width in widths:
        layers += conv_bn_relu(c, width) + [nn.MaxPool2d(2)]
        c = width
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def make_trunk(arch: str, in_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """``("vgg16" | "small", (C, H, W))`` -> (trunk, number of output features)."""
    if arch == "vgg16":
        trunk = vgg16_trunk(in_shape[0])
    elif arch == "small":
        trunk = small_cnn_trunk(in_shape[0])
    else:
        raise ValueError(f"unknown architecture {arch!r}; use 'vgg16' or 'small'")
    was = trunk.training
    trunk.eval()
    with torch.no_grad():
        n = int(trunk(torch.zeros(1, *in_shape)).shape[1])
    trunk.train(was)
    return trunk, n


def two_layer_head(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """Appendix C.1's head: linear to ``hidden`` features, ReLU, linear to the task's outputs."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_features))


class AuxNet(nn.Module):
    """The main network f of RL-AUX Eq. 2: ``forward(x) -> (primary logits (B, C), auxiliary logits (B, K))``."""

    def __init__(self, arch: str, in_shape: tuple[int, int, int], n_primary: int, n_aux: int,
                 hidden: int = 512) -> None:
        super().__init__()
        if n_primary < 2 or n_aux < 1:
            raise ValueError(f"need n_primary >= 2 and n_aux >= 1, got {n_primary}, {n_aux}")
        self.trunk, feats = make_trunk(arch, in_shape)
        self.primary_head = two_layer_head(feats, hidden, n_primary)
        self.aux_head = two_layer_head(feats, hidden, n_aux)
        self.n_primary, self.n_aux = n_primary, n_aux

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(x)
        return self.primary_head(z), self.aux_head(z)


class LabelNet(nn.Module):
    """MAXL's label-generation network g (Liu et al., 2019, §3.2), optionally weight-aware (RL-AUX §3, WA-MAXL).

    ``forward(x, y) -> (log label probabilities (B, K), unscaled weights (B,) in [0, 1] or None)``; the label
    distribution is the masked softmax of Eqs. 5–6 (support: the psi sub-classes of primary class y).
    """

    def __init__(self, arch: str, in_shape: tuple[int, int, int], n_primary: int, psi: int, hidden: int = 512,
                 weight_aware: bool = False) -> None:
        super().__init__()
        self.trunk, feats = make_trunk(arch, in_shape)
        self.label_head = two_layer_head(feats, hidden, n_primary * psi)
        self.weight_head = two_layer_head(feats, hidden, 1) if weight_aware else None
        self.psi = psi

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self.trunk(x)
        logp = masked_log_softmax(self.label_head(z), y, self.psi)
        w = torch.sigmoid(self.weight_head(z)).squeeze(1) if self.weight_head is not None else None
        return logp, w
