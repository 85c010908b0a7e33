"""Scale-safe gradient arithmetic for the aggregators: a power-of-two rescaling applied only out of range.

Squared norms and Gram entries of gradients overflow long before the gradients do (float32: ||g||² > 3.4e38,
i.e. entries near 1e19; float64: entries near 1e154) and lose their precision to subnormals at the other end.
Every aggregation rule here is homogeneous in G — the weights of MGDA, CAGrad and IMTL-G do not change when G is
scaled, Nash-MTL's α scales as 1/s, every direction is linear in G up to that — so the aggregators compute on
G·2^e and undo the scale afterwards. Multiplying by a power of two is exact (no rounding) whenever the result is
a normal number, so the rescaled path returns the same weights as exact arithmetic would; inputs already in range
are not touched at all (e = 0), which keeps their results bit for bit what they were.
"""

from __future__ import annotations

import math

import torch

__all__ = ["rescale_exponent", "scale_by_power_of_two", "check_floating"]


def check_floating(grads: torch.Tensor, what: str = "grads") -> torch.Tensor:
    """Raise a one-line TypeError unless ``grads`` has a floating-point dtype (integers would be truncated)."""
    if not grads.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor (float32 or float64), got {grads.dtype}; integer "
                        f"{what} would be truncated by the weights and projections: pass {what}.double()")
    return grads


def rescale_exponent(grads: torch.Tensor, sq_norm_max: float) -> int:
    """The exponent e such that ``grads`` (K, d) · 2^e is safe, or 0 when ``grads`` is safe already.

    ``sq_norm_max``: the largest squared row norm max_k ||g_k||² (from the Gram diagonal, in float64, or in the
    dtype of ``grads``; inf or NaN when it overflowed). Safe: tiny/eps ≤ ``sq_norm_max`` ≤ max/4 of the dtype of
    ``grads`` (no squared norm, dot product or partial sum can overflow or fall into subnormals). Otherwise e puts
    the largest |entry| in [0.5, 1).

    >>> g = torch.tensor([[3e20, 0.0], [0.0, 1e20]])       # float32: ||g_1||² = 9e40 overflows
    >>> e = rescale_exponent(g, float((g.double() ** 2).sum(1).max()))
    >>> e, 0.5 <= float(scale_by_power_of_two(g, e).abs().max()) < 1
    (-69, True)
    >>> rescale_exponent(torch.tensor([[3.0, 4.0]]), 25.0)
    0
    """
    info = torch.finfo(grads.dtype)
    if info.tiny / info.eps <= sq_norm_max <= info.max / 4:
        return 0
    top = float(grads.detach().abs().max())
    if top == 0.0 or not math.isfinite(top):  # all zero: nothing to scale; non-finite: check_grads rejects it
        return 0
    return -math.frexp(top)[1]


def scale_by_power_of_two(x: torch.Tensor, e: int) -> torch.Tensor:
    """x · 2^e, exactly (two factors, so that neither 2^⌊e/2⌋ nor 2^⌈e/2⌉ leaves the dtype's range); x when e = 0."""
    if e == 0:
        return x
    half = e // 2
    return x * (2.0 ** half) * (2.0 ** (e - half))
