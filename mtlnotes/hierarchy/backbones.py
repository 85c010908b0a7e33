"""Five-stage backbones for MMF (Li et al., 2021, §4.1: "there are five stages in both backbones").

Each backbone exposes ``stages`` (an ``nn.ModuleList`` of 5 modules applied in turn) and ``channels``
(output channels of each stage), so superclass branches can be attached after any stage (Fig. 2, Fig. 4a).

* :class:`SmallFiveStageCNN` — ours, for the CPU quick profile: five [3×3 conv, BN, ReLU] stages on a
  2×-downsampled input, 2×2 max-pool after stages 1 and 3.
* :class:`VGG16Stages` — VGG16 (Simonyan & Zisserman, 2015, configuration D) with BatchNorm; the five stages
  are its five conv blocks, each ending in a max-pool.
* :class:`ResNet50Stages` — ResNet-50 (He et al., 2016): stem, then the four bottleneck layers (3, 4, 6, 3
  blocks; stride on the 3×3 conv). ``small_input=True`` (CIFAR) replaces the 7×7/2 stem and max-pool by a
  3×3/1 conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtlnotes.models.backbones import VGG16_STAGES, conv_bn_relu, vgg16_stages

__all__ = ["FiveStageBackbone", "SmallFiveStageCNN", "VGG16Stages", "ResNet50Stages", "Bottleneck", "make_backbone"]


class FiveStageBackbone(nn.Module):
    """Base class: ``stages`` (5 modules) and ``channels`` (5 ints). ``forward`` returns every stage's output."""

    stages: nn.ModuleList
    channels: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (B, C_in, H, W) → list of 5 maps, map k of shape (B, channels[k], H_k, W_k)."""
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


class SmallFiveStageCNN(FiveStageBackbone):
    """Ours, for CPU runs: five [3×3 conv → BN → ReLU] stages of ``widths`` channels.

    Stage 1 first average-pools the input by ``input_pool`` (cheap on CPU) and ends in a 2×2 max-pool, as does
    stage 3. Input (B, C_in, 28, 28) gives maps of 7², 7², 3², 3², 3².
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (8, 16, 16, 32, 32), input_pool: int = 2) -> None:
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"need 5 stage widths, got {len(widths)}")
        if input_pool < 1:
            raise ValueError(f"input_pool must be >= 1, got {input_pool}")
        stages, c = [], in_channels
        for k, w in enumerate(widths):
            layers: list[nn.Module] = [nn.AvgPool2d(input_pool)] if k == 0 and input_pool > 1 else []
            layers += conv_bn_relu(c, w)
            if k in (0, 2):
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            c = w
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(int(w) for w in widths)


class VGG16Stages(FiveStageBackbone):
    """VGG16-BN conv blocks [64×2], [128×2], [256×3], [512×3], [512×3], each followed by 2×2 max-pool."""

    CONFIG = VGG16_STAGES

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.stages = nn.ModuleList(vgg16_stages(in_channels))
        self.channels = tuple(b[-1] for b in self.CONFIG)


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1×1 (width) → 3×3 (width, ``stride``) → 1×1 (4·width), identity or projection shortcut."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet50Stages(FiveStageBackbone):
    """ResNet-50: stage 1 the stem, stages 2–5 the bottleneck layers (3, 4, 6, 3 blocks; 256…2048 channels)."""

    LAYERS = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))

    def __init__(self, in_channels: int = 3, small_input: bool = True) -> None:
        super().__init__()
        if small_input:
            stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64),
                                 nn.ReLU(inplace=True))
        else:
            stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        stages, c = [stem], 64
        for width, blocks, stride in self.LAYERS:
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(c, width, stride if b == 0 else 1))
                c = width * Bottleneck.expansion
            stages.append(nn.Sequential(*layer))
        self.stages = nn.ModuleList(stages)
        self.channels = (64,) + tuple(w * Bottleneck.expansion for w, _, _ in self.LAYERS)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def make_backbone(name: str, in_channels: int, small_input: bool = True, widths: Sequence[int] | None = None
                  ) -> FiveStageBackbone:
    """``"small_cnn"``, ``"vgg16"`` or ``"resnet50"``."""
    if name == "small_cnn":
        return SmallFiveStageCNN(in_channels, widths or (8, 16, 16, 32, 32))
    if name == "vgg16":
        return VGG16Stages(in_channels)
    if name == "resnet50":
        return ResNet50Stages(in_channels, small_input=small_input)
    raise ValueError(f"unknown backbone {name!r}; choose 'small_cnn', 'vgg16' or 'resnet50'")
