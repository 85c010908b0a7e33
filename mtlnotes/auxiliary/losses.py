"""Hierarchy-constrained auxiliary labels and the losses that train on them.

* :func:`hierarchy_mask` / :func:`masked_softmax` / :func:`masked_log_softmax`: the masked softmax of MAXL
  (Liu, Davison & Johns, 2019, §3.2) as restated by RL-AUX (Goldfeder, So & Lipson, Eqs. 5–6): with
  ``psi`` auxiliary classes per primary class, sample i (primary label y_i) may only use auxiliary classes
  ``psi*y_i <= k < psi*(y_i+1)``. Computed in log space, so large logits neither overflow nor give NaN
  (the reference MAXL code exponentiates raw logits and overflows above ~88 in float32).
* :func:`focal_loss`: the focal loss MAXL applies to (soft) auxiliary targets, ``-sum_k t_k (1-p_k)^gamma log p_k``
  (Lin et al., 2017, with MAXL's gamma = 2).
* :func:`batch_entropy`: the entropy of the batch-mean label distribution (RL-AUX Eq. 3; MAXL's entropy
  regulariser), which is large when the whole auxiliary label space is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["hierarchy_mask", "masked_log_softmax", "masked_softmax", "focal_loss", "batch_entropy",
           "expand_sublabels"]


def _check(logits: torch.Tensor, primary_labels: torch.Tensor, psi: int) -> int:
    if not isinstance(psi, int) or psi < 1:
        raise ValueError(f"psi (auxiliary classes per primary class) must be a positive int, got {psi!r}")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, K), got shape {tuple(logits.shape)}")
    if primary_labels.ndim != 1 or primary_labels.shape[0] != logits.shape[0]:
        raise ValueError(f"primary_labels must be ({logits.shape[0]},), got shape {tuple(primary_labels.shape)}")
    k = logits.shape[1]
    if k % psi:
        raise ValueError(f"K = {k} logits is not a multiple of psi = {psi}")
    n_primary = k // psi
    if primary_labels.numel() and (int(primary_labels.min()) < 0 or int(primary_labels.max()) >= n_primary):
        bad = int(primary_labels.max()) if int(primary_labels.max()) >= n_primary else int(primary_labels.min())
        raise ValueError(f"primary label {bad} out of range for {n_primary} primary classes (K = {k}, psi = {psi})")
    return n_primary


def hierarchy_mask(primary_labels: torch.Tensor, n_primary: int, psi: int) -> torch.Tensor:
    """The mask m of RL-AUX Eq. 6: (B, psi*n_primary) booleans, True where ``psi*y_i <= k < psi*(y_i+1)``."""
    if primary_labels.numel() and (int(primary_labels.min()) < 0 or int(primary_labels.max()) >= n_primary):
        raise ValueError(f"primary labels must lie in [0, {n_primary}), got range "
                         f"[{int(primary_labels.min())}, {int(primary_labels.max())}]")
    k = torch.arange(psi * n_primary, device=primary_labels.device)
    return (k // psi).unsqueeze(0) == primary_labels.unsqueeze(1)


def masked_log_softmax(logits: torch.Tensor, primary_labels: torch.Tensor, psi: int) -> torch.Tensor:
    """log p of RL-AUX Eq. 5 with the mask of Eq. 6: (B, K) with -inf outside each sample's psi classes.

    logits (B, K) with K = psi * n_primary; primary_labels (B,) int in [0, n_primary).
    """
    _check(logits, primary_labels, psi)
    b, k = logits.shape
    # gather the psi logits of each sample's block and normalise them with logsumexp (stable for any size)
    block = logits.view(b, k // psi, psi)[torch.arange(b, device=logits.device), primary_labels]  # (B, psi)
    out = torch.full_like(logits, float("-inf"))
    return out.view(b, k // psi, psi).index_put((torch.arange(b, device=logits.device), primary_labels),
                                                torch.log_softmax(block, dim=1)).view(b, k)


def masked_softmax(logits: torch.Tensor, primary_labels: torch.Tensor, psi: int) -> torch.Tensor:
    """Probabilities of RL-AUX Eqs. 5–6 (MAXL's masked softmax): (B, K), each row sums to 1 and is exactly
    zero outside the psi auxiliary classes of that sample's primary class.

    logits (B, K) with K = psi * n_primary; primary_labels (B,) int64.
    """
    return masked_log_softmax(logits, primary_labels, psi).exp()


def expand_sublabels(sub: torch.Tensor, primary_labels: torch.Tensor, psi: int) -> torch.Tensor:
    """Auxiliary class index ``psi*y + a`` for a sub-class choice ``a in [0, psi)`` (the support of Eq. 6)."""
    if sub.shape != primary_labels.shape:
        raise ValueError(f"sub-labels {tuple(sub.shape)} and primary labels {tuple(primary_labels.shape)} differ")
    if sub.numel() and (int(sub.min()) < 0 or int(sub.max()) >= psi):
        raise ValueError(f"sub-class choice out of range for psi = {psi}: got range [{int(sub.min())}, {int(sub.max())}]")
    return primary_labels * psi + sub


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample focal loss ``-sum_k t_k (1 - p_k)^gamma log p_k`` with p = softmax(logits) (MAXL's form).

    logits (B, K); target (B,) int64 class indices or (B, K) a probability vector per row (MAXL's soft
    auxiliary labels). Returns (B,). gamma = 0 is the cross-entropy.
    """
    if gamma < 0:
        raise ValueError(f"focal loss needs gamma >= 0, got {gamma}")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, K), got shape {tuple(logits.shape)}")
    logp = torch.log_softmax(logits, dim=1)
    if target.ndim == 1:
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f"{logits.shape[0]} predictions for {target.shape[0]} targets")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
            raise ValueError(f"target class out of range for {logits.shape[1]} classes")
        target = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    elif target.shape != logits.shape:
        raise ValueError(f"soft targets must have the logits' shape {tuple(logits.shape)}, got {tuple(target.shape)}")
    # where the target is 0 the term is 0 even when log p is -inf-like
    terms = torch.where(target > 0, target * (1 - logp.exp()).pow(gamma) * logp, torch.zeros_like(logp))
    return -terms.sum(dim=1)


def batch_entropy(probs: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Entropy ``-sum_k pbar_k log pbar_k`` of the batch mean ``pbar = probs.mean(0)`` (RL-AUX Eq. 3, MAXL §3.3).

    probs (B, K) rows on the simplex. Returns a scalar >= 0, at most log K (uniform use of all K classes).
    RL-AUX writes Eq. 3 as ``sum pbar log pbar`` (the negative entropy) but adds it to the reward in Eq. 4 to
    *guard against* collapse; the entropy itself is what has that effect, so this returns the entropy.
    """
    if probs.ndim != 2:
        raise ValueError(f"probs must be (B, K), got shape {tuple(probs.shape)}")
    pbar = probs.mean(dim=0)
    return -torch.where(pbar > eps, pbar * torch.log(pbar.clamp_min(1e-38)), torch.zeros_like(pbar)).sum()
