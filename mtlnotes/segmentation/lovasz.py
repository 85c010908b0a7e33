"""Lovász-Softmax loss (Berman, Rannen Triki & Blaschko, CVPR 2018), the loss of both GLUNet heads.

GLUNet (Wang & Quan, ICANN 2021, §3.3, Eqs. 4–5) trains the segmentation and the edge head with

    loss(f) = 1/|C| Σ_{c∈C} Δ̄_{J_c}(m(c)),   m_i(c) = 1 − f_i(c) if c = y_i else f_i(c),

where Δ̄_{J_c} is the Lovász extension of the Jaccard loss of class c: sort the errors m(c) in decreasing
order and take their dot product with the Jaccard-loss increments ``lovasz_grad`` of the sorted labels.
This follows the reference implementation (``bermanmaxim/LovaszSoftmax``, ``lovasz_softmax`` with
``classes='present'``, ``per_image=True``): the loss is computed per image and averaged over images.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["lovasz_grad", "lovasz_softmax_flat", "lovasz_softmax"]


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Increments of the Jaccard loss along a sorted ground truth (Berman et al., 2018, Eq. 8 / Alg. 1).

    ``gt_sorted``: (P,) 0/1 labels of one class, sorted by decreasing error. Returns (P,) weights g with
    Σ_{i≤k} g_i = 1 − |gt ∩ {1..k}| / |gt ∪ {1..k}|.
    """
    p = gt_sorted.numel()
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_softmax_flat(probas: torch.Tensor, labels: torch.Tensor,
                        classes: Literal["present", "all"] = "present") -> torch.Tensor:
    """Lovász-Softmax of one set of pixels: ``probas`` (P, C) class probabilities, ``labels`` (P,) ints.

    ``classes="present"`` averages over the classes that occur in ``labels`` (the reference default);
    ``"all"`` over all C classes (Eq. 4 read literally). Zero for an empty set of pixels.
    """
    if probas.numel() == 0:
        return probas.sum() * 0.0
    n_classes = probas.shape[1]
    losses = []
    for c in range(n_classes):
        fg = (labels == c).to(probas.dtype)
        if classes == "present" and fg.sum() == 0:
            continue
        errors = (fg - probas[:, c]).abs()  # m_i(c) of Eq. 5
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    if not losses:
        return probas.sum() * 0.0
    return torch.stack(losses).mean()


def lovasz_softmax(probas: torch.Tensor, labels: torch.Tensor, *,
                   classes: Literal["present", "all"] = "present", per_image: bool = True) -> torch.Tensor:
    """Lovász-Softmax loss (GLUNet Eqs. 4–5), averaged over images as in the reference implementation.

    ``probas``: (B, C, H, W) softmax outputs; ``labels``: (B, H, W) integers in [0, C). With
    ``per_image=False`` all pixels of the batch form one set.
    """
    if probas.dim() != 4:
        raise ValueError(f"probas must be (B, C, H, W), got shape {tuple(probas.shape)}")
    if labels.shape != (probas.shape[0],) + tuple(probas.shape[2:]):
        raise ValueError(f"labels must be (B, H, W) = {(probas.shape[0],) + tuple(probas.shape[2:])}, "
                         f"got {tuple(labels.shape)}")
    if classes not in ("present", "all"):
        raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= probas.shape[1]):
        raise ValueError(f"labels must lie in [0, {probas.shape[1]}), got [{int(labels.min())}, {int(labels.max())}]")
    c = probas.shape[1]
    if per_image:
        return torch.stack([lovasz_softmax_flat(p.permute(1, 2, 0).reshape(-1, c), l.reshape(-1), classes)
                            for p, l in zip(probas, labels)]).mean()
    return lovasz_softmax_flat(probas.permute(0, 2, 3, 1).reshape(-1, c), labels.reshape(-1), classes)
