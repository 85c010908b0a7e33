"""NYUv2 (Silberman et al., 2012) in the preprocessed form used by MTAN (Liu et al., 2019) and the Nash-MTL
experiments (Navon et al., 2022, §6.3): 795 training and 654 test images at 288×384, 13 semantic classes,
depth, and surface normals, stored as one NumPy file per image and modality::

    <root>/nyuv2/train/image/0.npy    (288, 384, 3) float, RGB in [0, 1]
    <root>/nyuv2/train/label/0.npy    (288, 384)    float, class 0..12, −1 = unlabelled
    <root>/nyuv2/train/depth/0.npy    (288, 384, 1) float, metres (0 = missing)
    <root>/nyuv2/train/normal/0.npy   (288, 384, 3) float, unit normals in [−1, 1] (0 = missing)
    <root>/nyuv2/val/...              the 654 test images, same layout

The folder comes from the MTAN repository's ``nyuv2.zip`` (no checksum is published, so the loader checks
counts, shapes and value ranges instead). Missing data raises :class:`DataMissingError` naming what to get.

The benchmark's training and evaluation pieces, as in MTAN's code and the Nash-MTL experiments (§6.3, Table 3):
:func:`random_scale_crop` (MTAN's augmentation), :func:`nyuv2_losses` (MTAN's losses, Liu et al., 2019, §4.1),
:class:`NYUv2Meter` and :data:`NYUV2_METRICS` (the nine metrics of Navon et al., 2022, Table 3).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtlnotes.data.cache import DataMissingError, cache_dir

__all__ = ["NYUV2_COUNTS", "NYUV2_SHAPE", "NYUV2_CLASSES", "NYUv2", "nyuv2_root", "HOW_TO_GET", "NYUV2_METRICS",
           "nyuv2_losses", "NYUv2Meter", "random_scale_crop"]

NYUV2_COUNTS = {"train": 795, "val": 654}
NYUV2_SHAPE = (288, 384)
NYUV2_CLASSES = 13
MODALITIES = ("image", "label", "depth", "normal")
HOW_TO_GET = ("Download the preprocessed NYUv2 of MTAN (Liu et al., 2019), nyuv2.zip, linked from "
              "https://github.com/lorenmt/mtan, and unzip it so that <MTLNOTES_DATA>/nyuv2/train/image/0.npy exists.")


def nyuv2_root(root: str | os.PathLike | None = None) -> Path:
    """``<cache>/nyuv2`` if it has both splits with every modality folder, else :class:`DataMissingError`."""
    base = cache_dir(root) / "nyuv2"
    missing = [f"{split}/{m}" for split in NYUV2_COUNTS for m in MODALITIES if not (base / split / m).is_dir()]
    if missing:
        raise DataMissingError(f"NYUv2 is not in the data cache: missing folders {', '.join(missing)} under {base}.\n"
                               f"  {HOW_TO_GET}")
    return base


@dataclass
class NYUv2:
    """One split (``"train"`` or ``"val"``) of the preprocessed NYUv2. ``ds[i]`` returns
    (image (3, H, W) float32, label (H, W) int64 with −1 ignored, depth (1, H, W) float32, normal (3, H, W) float32).

    ``expected`` overrides the number of images (tests use tiny fixtures); by default the official counts and
    image size are enforced.
    """

    split: str = "train"
    root: str | os.PathLike | None = None
    expected: int | None = None
    shape: tuple[int, int] = NYUV2_SHAPE

    def __post_init__(self) -> None:
        if self.split not in NYUV2_COUNTS:
            raise ValueError(f"split must be 'train' or 'val', got {self.split!r}")
        self.base = nyuv2_root(self.root) / self.split
        n = NYUV2_COUNTS[self.split] if self.expected is None else self.expected
        for m in MODALITIES:
            have = len(list((self.base / m).glob("*.npy")))
            if have != n:
                raise ValueError(f"{self.base / m}: expected {n} .npy files, found {have}; re-extract nyuv2.zip")
        self.n = n

    def __len__(self) -> int:
        return self.n

    def _load(self, modality: str, i: int) -> np.ndarray:
        path = self.base / modality / f"{i}.npy"
        if not path.exists():
            raise DataMissingError(f"{path} is missing; files must be numbered 0..{self.n - 1}")
        return np.load(path)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} images")
        h, w = self.shape
        image, label = self._load("image", i), self._load("label", i)
        depth, normal = self._load("depth", i), self._load("normal", i)
        for name, arr, shape in (("image", image, (h, w, 3)), ("label", label, (h, w)), ("depth", depth, (h, w, 1)),
                                 ("normal", normal, (h, w, 3))):
            if arr.shape != shape:
                raise ValueError(f"{self.split}/{name}/{i}.npy has shape {arr.shape}, expected {shape}")
        lab = np.rint(label).astype(np.int64)
        if lab.min() < -1 or lab.max() >= NYUV2_CLASSES:
            raise ValueError(f"{self.split}/label/{i}.npy has classes outside −1..{NYUV2_CLASSES - 1}")
        to_chw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32))  # noqa: E731
        return to_chw(image), torch.from_numpy(lab), to_chw(depth), to_chw(normal)


#: The nine NYUv2 metrics of Table 3 and whether higher is better.
NYUV2_METRICS = (("mIoU", True), ("pix_acc", True), ("abs_err", False), ("rel_err", False), ("mean_angle", False),
                 ("median_angle", False), ("within_11.25", True), ("within_22.5", True), ("within_30", True))


def nyuv2_losses(outputs: list[torch.Tensor], label: torch.Tensor, depth: torch.Tensor, normal: torch.Tensor,
                 tasks: Sequence[str] = ("segmentation", "depth", "normal")) -> torch.Tensor:
    """MTAN's training losses (Liu et al., 2019, §4.1): segmentation NLL (label −1 ignored), depth L1 and normal
    1 − cosine, both over pixels with ground truth (depth ≠ 0, normal ≠ 0). Returns (K,) in ``tasks`` order."""
    out = []
    for o, t in zip(outputs, tasks):
        if t == "segmentation":
            out.append(nn.functional.nll_loss(o, label, ignore_index=-1))
        else:
            gt = depth if t == "depth" else normal
            mask = (gt.sum(1, keepdim=True) != 0).to(o.dtype)
            n = mask.sum().clamp(min=1)
            out.append((((o - gt).abs() * mask).sum() / n) if t == "depth"
                       else 1 - ((o * gt).sum(1, keepdim=True) * mask).sum() / n)
    return torch.stack(out)


class NYUv2Meter:
    """Accumulates the nine NYUv2 metrics of Table 3 over a split: a 13-class confusion matrix (mIoU = mean over
    classes present of TP/(TP+FP+FN); pixel accuracy), depth absolute and relative error over pixels with depth,
    and the angle (degrees) between predicted and true normals over pixels with a normal (mean, median, % within
    11.25°, 22.5°, 30°). Errors are averaged over pixels, not over batches."""

    def __init__(self, n_classes: int = 13) -> None:
        self.n_classes = n_classes
        self.conf = torch.zeros(n_classes, n_classes, dtype=torch.int64)
        self.abs = self.rel = 0.0
        self.n_depth = 0
        self.angles: list[torch.Tensor] = []

    def update(self, seg_logp: torch.Tensor | None = None, label: torch.Tensor | None = None,
               depth_pred: torch.Tensor | None = None, depth: torch.Tensor | None = None,
               normal_pred: torch.Tensor | None = None, normal: torch.Tensor | None = None) -> None:
        """Add a batch: segmentation log-probabilities (B, C, H, W) with labels (B, H, W), depth predictions and
        truth (B, 1, H, W), normal predictions and truth (B, 3, H, W); a task whose prediction is None is skipped."""
        if seg_logp is not None:
            pred, lab = seg_logp.argmax(1).flatten().cpu(), label.flatten().cpu()
            keep = lab >= 0
            self.conf += torch.bincount(lab[keep] * self.n_classes + pred[keep],
                                        minlength=self.n_classes ** 2).reshape(self.n_classes, self.n_classes)
        if depth_pred is not None:
            mask = depth.sum(1) != 0
            p, g = depth_pred[:, 0][mask].double().cpu(), depth[:, 0][mask].double().cpu()
            self.abs += float((p - g).abs().sum())
            self.rel += float(((p - g).abs() / g.abs()).sum())
            self.n_depth += int(mask.sum())
        if normal_pred is not None:
            mask = normal.sum(1) != 0
            cos = (normal_pred.double() * normal.double()).sum(1)[mask].clamp(-1, 1).cpu()
            self.angles.append(torch.rad2deg(torch.acos(cos)))

    def result(self) -> dict[str, float]:
        """The metrics of the tasks seen so far, named as in :data:`NYUV2_METRICS`."""
        out: dict[str, float] = {}
        if self.conf.sum() > 0:
            tp = self.conf.diag().double()
            union = self.conf.sum(0).double() + self.conf.sum(1).double() - tp
            present = union > 0
            out["mIoU"] = float((tp[present] / union[present]).mean())
            out["pix_acc"] = float(tp.sum() / self.conf.sum())
        if self.n_depth:
            out["abs_err"], out["rel_err"] = self.abs / self.n_depth, self.rel / self.n_depth
        if self.angles:
            a = torch.cat(self.angles)
            out.update({"mean_angle": float(a.mean()), "median_angle": float(a.median()),
                        "within_11.25": float((a < 11.25).double().mean()),
                        "within_22.5": float((a < 22.5).double().mean()),
                        "within_30": float((a < 30).double().mean())})
        return out


def random_scale_crop(image: torch.Tensor, label: torch.Tensor, depth: torch.Tensor, normal: torch.Tensor,
                      generator: torch.Generator, scales: Sequence[float] = (1.0, 1.2, 1.5),
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MTAN's augmentation (``RandomScaleCrop``): pick a scale s, crop a random (H/s, W/s) window and resize it
    back to (H, W) (bilinear for the image, nearest for the rest); depth is divided by s (the scene looks s times
    closer). Batched: image (B, 3, H, W), label (B, H, W), depth (B, 1, H, W), normal (B, 3, H, W)."""
    h, w = image.shape[-2:]
    s = scales[int(torch.randint(len(scales), (1,), generator=generator))]
    hh, ww = int(h / s), int(w / s)
    i = int(torch.randint(h - hh + 1, (1,), generator=generator))
    j = int(torch.randint(w - ww + 1, (1,), generator=generator))
    crop = lambda t: t[..., i:i + hh, j:j + ww]  # noqa: E731
    near = lambda t: nn.functional.interpolate(crop(t), size=(h, w), mode="nearest")  # noqa: E731
    img = nn.functional.interpolate(crop(image), size=(h, w), mode="bilinear", align_corners=True)
    lab = near(label[:, None].float())[:, 0].long()
    return img, lab, near(depth) / s, near(normal)
