"""Pixel-level segmentation metrics of GLUNet's Tables 1–5 (Wang & Quan, ICANN 2021, §4.3).

All pixels of the evaluated images are pooled into one confusion matrix (foreground = positive class):
IoU = TP/(TP+FP+FN), F1 (= Dice) = 2TP/(2TP+FP+FN), SE (sensitivity, recall) = TP/(TP+FN),
SP (specificity) = TN/(TN+FP), ACC = (TP+TN)/all, and AUC = area under the ROC curve of the foreground
probability. Counts come from :func:`sklearn.metrics.confusion_matrix`, AUC from :func:`sklearn.metrics.roc_auc_score`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, roc_auc_score

__all__ = ["SegmentationScores", "segmentation_scores", "METRIC_NAMES"]

METRIC_NAMES = ("IoU", "F1", "SE", "SP", "ACC", "AUC")


@dataclass(frozen=True)
class SegmentationScores:
    """The six metrics of Tables 1–3 (NaN where undefined, e.g. AUC with one class present)."""

    IoU: float
    F1: float
    SE: float
    SP: float
    ACC: float
    AUC: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def segmentation_scores(prob: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                        threshold: float = 0.5) -> SegmentationScores:
    """Pixel-level metrics from foreground probabilities ``prob`` (…, H, W) in [0, 1] and 0/1 ``target`` (same shape).

    A pixel is predicted foreground when ``prob > threshold`` (ties go to background, as the arg-max of a
    two-class softmax whose classes tie).
    """
    p = torch.as_tensor(prob).detach().cpu().reshape(-1).double().numpy()
    t = torch.as_tensor(target).detach().cpu().reshape(-1).numpy()
    if p.shape != t.shape:
        raise ValueError(f"prob and target must have the same shape, got {tuple(np.shape(prob))} and "
                         f"{tuple(np.shape(target))}")
    if p.size == 0:
        raise ValueError("no pixels to score")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError("prob must hold probabilities in [0, 1]")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("target must hold 0/1 labels")
    t = t.astype(np.int64)
    pred = (p > threshold).astype(np.int64)
    tn, fp, fn, tp = confusion_matrix(t, pred, labels=[0, 1]).ravel()
    auc = float(roc_auc_score(t, p)) if 0 < t.sum() < t.size else float("nan")
    return SegmentationScores(IoU=_ratio(tp, tp + fp + fn), F1=_ratio(2 * tp, 2 * tp + fp + fn),
                              SE=_ratio(tp, tp + fn), SP=_ratio(tn, tn + fp), ACC=_ratio(tp + tn, tp + tn + fp + fn),
                              AUC=auc)
