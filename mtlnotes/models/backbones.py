"""Backbones used by several chapters."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "MultiLeNetEncoder", "SimpleConvNet", "conv_block", "conv_bn_relu", "VGG16_STAGES",
           "vgg16_stages"]


class MLP(nn.Sequential):
    """Fully connected layers with ReLU between them (none after the last): sizes (d_in, h1, ..., d_out)."""

    def __init__(self, sizes: Sequence[int], dropout: float = 0.0) -> None:
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
                if dropout:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class MultiLeNetEncoder(nn.Module):
    """The LeNet-style shared encoder used for MultiMNIST by Sener & Koltun (2018) and Nash-MTL (2022).

    conv(1→10, 5×5) → max-pool 2 → ReLU → conv(10→20, 5×5) → max-pool 2 → ReLU → linear(320→``out``) → ReLU.
    Input (B, 1, 28, 28); output (B, ``out``).
    """

    def __init__(self, out_features: int = 50) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        )
        self.fc = nn.Linear(320, out_features)
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.features(x).flatten(1)))


def conv_block(c_in: int, c_out: int, pool: bool = True) -> nn.Sequential:
    """3×3 conv (padding 1) → BatchNorm → ReLU (→ 2×2 max-pool).

    With ``pool`` the block applies the max-pool *before* the ReLU: max and ReLU commute (ReLU is monotone), so
    the output and every gradient are bit for bit those of conv → BN → ReLU → pool (tested), while the ReLU and its
    backward touch a quarter of the elements. On this CPU that is ~10% of a SimpleConvNet training step, whose
    first block's full-resolution activations are memory-bound (measured for the routing paper profile's long run).
    The layer indices, and so the state-dict keys, are those of the other order.
    """
    conv, norm = nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out)
    if not pool:
        return nn.Sequential(conv, norm, nn.ReLU())
    return nn.Sequential(OrderedDict([("0", conv), ("1", norm), ("3", nn.MaxPool2d(2)), ("2", nn.ReLU(inplace=True))]))


#: VGG16's conv blocks (Simonyan & Zisserman, 2015, Table 1 D): widths of the 3×3 convs, a 2×2 max-pool after each
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    """3×3 conv (padding 1) → BatchNorm → ReLU, as a list of layers (to splice into a block)."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def vgg16_stages(in_channels: int = 3) -> list[nn.Sequential]:
    """The five stages of VGG16 with BatchNorm (:data:`VGG16_STAGES`, each ending in a 2×2 max-pool): the one
    VGG16 of the book, used whole by RL-AUX's trunk and stage by stage by MMF's backbone."""
    stages, c = [], in_channels
    for block in VGG16_STAGES:
        layers: list[nn.Module] = []
        for width in block:
            layers += conv_bn_relu(c, width)
            c = width
        layers.append(nn.MaxPool2d(2))
        stages.append(nn.Sequential(*layers))
    return stages


class SimpleConvNet(nn.Module):
    """The convolutional trunk of Ravi & Larochelle (2017) as used by Routing Networks (Rosenbaum et al., 2018, §4):
    four [3×3 conv, ``width`` filters, BatchNorm, ReLU, 2×2 max-pool] blocks, flattened.

    Input (B, C, H, W); output (B, ``width`` · ⌊H/16⌋ · ⌊W/16⌋) — 32 features for 28×28 inputs.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, n_blocks: int = 4) -> None:
        super().__init__()
        blocks = [conv_block(in_channels if i == 0 else width, width) for i in range(n_blocks)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)

    def out_features(self, in_shape: tuple[int, int, int]) -> int:
        with torch.no_grad():
            return int(self.forward(torch.zeros(1, *in_shape)).shape[1])
