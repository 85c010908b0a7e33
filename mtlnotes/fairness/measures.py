"""Unfairness measures of Speicher et al. (2018) as used by Zhang et al. (ICANN 2021, §3.2).

The benefit of individual i is ``b_i = ŷ_i - y_i + 1`` (ŷ_i: the model's predicted probability of the
positive class, y_i in {0, 1}). The generalised entropy index with parameter α (α ∉ {0, 1}) is

    GE_α(b) = 1 / (n α (α - 1)) Σ_i ((b_i / μ)^α - 1),   μ = mean(b).

For a partition of the individuals into groups g with sizes n_g and mean benefits μ_g it decomposes exactly as
``GE_α(b) = f_I + f_G`` with the within-group ("individual") unfairness (Zhang et al., Eq. 1)

    f_I = Σ_g (n_g / n) (μ_g / μ)^α GE_α(b^g)

and the between-group ("group") unfairness (Eq. 2)

    f_G = 1 / (n α (α - 1)) Σ_g n_g ((μ_g / μ)^α - 1).

(Eq. 1 of the paper writes μ inside ε^α(b^g); the decomposition needs each group's own mean μ_g there, as in
Speicher et al., Eq. 5. We use μ_g.)

Two APIs: 1-D functions returning floats (``generalized_entropy_index``, ``individual_unfairness``,
``group_unfairness``, ``mse``) and :func:`population_objectives`, which evaluates a whole population's
predictions ``(P, n)`` at once.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["benefit", "generalized_entropy_index", "individual_unfairness", "group_unfairness", "mse",
           "population_objectives", "OBJECTIVE_NAMES"]

OBJECTIVE_NAMES = ("MSE", "f_I", "f_G")


def _as_tensor(v, name: str, dtype=torch.float64) -> torch.Tensor:
    t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    return t.to(dtype)


def _check_alpha(alpha: float) -> None:
    if alpha in (0, 1):
        raise ValueError(f"alpha must not be 0 or 1 (got {alpha}); those indices are limits (Theil, MLD)")


def _check_pair(y_pred: torch.Tensor, y_true: torch.Tensor) -> None:
    if y_pred.shape[-1] != y_true.shape[-1]:
        raise ValueError(f"{y_pred.shape[-1]} predictions for {y_true.shape[-1]} labels")


def benefit(y_pred, y_true) -> torch.Tensor:
    """Benefit ``b = ŷ - y + 1`` (Speicher et al., 2018; Zhang et al., §3.2). Shapes: (..., n), (n,)."""
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true).to(y_pred.dtype)
    _check_pair(y_pred, y_true)
    return y_pred - y_true + 1


def generalized_entropy_index(b, alpha: float = 2) -> float:
    """Generalised entropy index ``GE_α(b)`` of a 1-D benefit vector (Speicher et al., 2018, Eq. 3).

    Raises ``ValueError`` when the mean benefit is not positive (the index is then undefined).
    """
    _check_alpha(alpha)
    b = _as_tensor(b, "b")
    mu = b.mean()
    if mu <= 0:
        raise ValueError(f"the mean benefit must be positive, got {mu.item():.4g}")
    return float(((b / mu) ** alpha - 1).mean() / (alpha * (alpha - 1)))


def _group_stats(b: torch.Tensor, groups: torch.Tensor, alpha: float):
    """Per-group sizes, means and within-group GE for a batch of benefits ``b`` (P, n); groups (n,)."""
    n_groups = int(groups.max().item()) + 1
    onehot = torch.nn.functional.one_hot(groups, n_groups).to(b.dtype)  # (n, G)
    n_g = onehot.sum(0)  # (G,)
    present = n_g > 0
    onehot, n_g = onehot[:, present], n_g[present]
    mu = b.mean(-1, keepdim=True)  # (P, 1)
    mu_g = (b @ onehot) / n_g  # (P, G)
    # Σ_{i in g} (b_i / μ_g)^α, computed as Σ b_i^α / μ_g^α
    pow_sum = (b ** alpha) @ onehot  # (P, G)
    ge_g = (pow_sum / mu_g ** alpha / n_g - 1) / (alpha * (alpha - 1))
    return n_g, mu, mu_g, ge_g


def _check_groups(groups, n: int) -> torch.Tensor:
    g = groups if isinstance(groups, torch.Tensor) else torch.as_tensor(np.asarray(groups))
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"groups must be 1-D with one id per individual ({n}), got shape {tuple(g.shape)}")
    if g.dtype.is_floating_point or g.dtype == torch.bool:
        raise ValueError(f"groups must be integer ids, got dtype {g.dtype}")
    if (g < 0).any():
        raise ValueError(f"group ids must be non-negative, got {int(g.min())}")
    return g.long()


def _decomposed(y_pred, y_true, groups, alpha: float) -> tuple[float, float]:
    _check_alpha(alpha)
    y_pred = _as_tensor(y_pred, "y_pred")
    y_true = _as_tensor(y_true, "y_true")
    _check_pair(y_pred, y_true)
    g = _check_groups(groups, y_true.shape[0])
    b = benefit(y_pred, y_true)[None]
    if b.mean() <= 0:
        raise ValueError(f"the mean benefit must be positive, got {b.mean().item():.4g}")
    n_g, mu, mu_g, ge_g = _group_stats(b, g, alpha)
    n = y_true.shape[0]
    ratio = (mu_g / mu) ** alpha
    f_i = (n_g / n * ratio * ge_g).sum(-1)
    f_g = (n_g * (ratio - 1)).sum(-1) / (n * alpha * (alpha - 1))
    return float(f_i[0]), float(f_g[0])


def individual_unfairness(y_pred, y_true, groups, alpha: float = 2) -> float:
    """Within-group unfairness ``f_I`` (Zhang et al., 2021, Eq. 1; Speicher et al., 2018, Eq. 5).

    ``y_pred`` (n,) predicted probabilities, ``y_true`` (n,) labels in {0, 1}, ``groups`` (n,) integer ids.
    """
    return _decomposed(y_pred, y_true, groups, alpha)[0]


def group_unfairness(y_pred, y_true, groups, alpha: float = 2) -> float:
    """Between-group unfairness ``f_G`` (Zhang et al., 2021, Eq. 2; Speicher et al., 2018, Eq. 5)."""
    return _decomposed(y_pred, y_true, groups, alpha)[1]


def mse(y_pred, y_true) -> float:
    """Mean squared error between predicted probabilities and 0/1 labels (Zhang et al., §3.2)."""
    y_pred = _as_tensor(y_pred, "y_pred")
    y_true = _as_tensor(y_true, "y_true")
    _check_pair(y_pred, y_true)
    return float(((y_pred - y_true) ** 2).mean())


def population_objectives(y_pred: torch.Tensor, y_true: torch.Tensor, groups: torch.Tensor,
                          alpha: float = 2) -> torch.Tensor:
    """The three objectives (MSE, f_I, f_G) of every model in a population, all to be minimised.

    ``y_pred``: (P, n) predicted probabilities; ``y_true``: (n,); ``groups``: (n,) integer ids.
    Returns (P, 3), computed in float64.
    """
    _check_alpha(alpha)
    if y_pred.ndim != 2:
        raise ValueError(f"y_pred must be (P, n), got shape {tuple(y_pred.shape)}")
    p = y_pred.double()
    y = y_true.to(p)
    _check_pair(p, y)
    g = _check_groups(groups, y.shape[0]).to(p.device)
    b = p - y + 1
    n = y.shape[0]
    n_g, mu, mu_g, ge_g = _group_stats(b, g, alpha)
    ratio = (mu_g / mu) ** alpha
    f_i = (n_g / n * ratio * ge_g).sum(-1)
    f_g = (n_g * (ratio - 1)).sum(-1) / (n * alpha * (alpha - 1))
    err = ((p - y) ** 2).mean(-1)
    return torch.stack([err, f_i, f_g], dim=-1)
