"""The one image container of the book: what every image loader returns (MNIST, Fashion-MNIST, CIFAR-10/100,
SVHN)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ImageDataset"]


@dataclass(frozen=True)
class ImageDataset:
    """Images as float32 in [0, 1], shape (N, C, H, W), int64 labels (N,) and a name for messages; optionally the
    class names, and superclass labels (N,) with their names where the dataset has them (CIFAR-100)."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    classes: tuple[str, ...] = ()
    coarse: torch.Tensor | None = None
    coarse_classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.name}: {self.images.shape[0]} images but {self.labels.shape[0]} labels")
        if self.coarse is not None and self.coarse.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.name}: {self.coarse.shape[0]} superclass labels for {self.labels.shape[0]} "
                             "images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])
