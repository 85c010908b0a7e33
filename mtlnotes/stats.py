"""Seed statistics for claims: means with t-intervals and a three-way verdict.

A claim such as "A beats B" is judged from per-seed numbers: it *holds* when the confidence interval of
the mean difference lies entirely on the claimed side of zero, it *does not hold* when it lies entirely on
the other side, and it is *inconclusive* (``None``) when the interval contains zero — the difference is
inside the seed spread — or when there are fewer than :data:`MIN_SEEDS` seeds (with two, a zero spread
makes a zero-width interval out of a coincidence).

    >>> from mtlnotes.stats import compare
    >>> c = compare([0.91, 0.92, 0.93], [0.80, 0.81, 0.79])
    >>> round(c.mean, 3), c.verdict("greater")
    (0.12, True)
    >>> compare([0.90, 0.95, 0.85], [0.91, 0.89, 0.90]).verdict("greater") is None
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats as _st

__all__ = ["MIN_SEEDS", "Interval", "mean_interval", "compare", "all_hold", "verdict_word"]

#: the fewest seeds (or splits) a verdict is drawn from
MIN_SEEDS = 3


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` seeds with its two-sided ``confidence`` t-interval ``[low, high]``.

    With one value the interval is undefined (``low = high = nan``)."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def verdict(self, expect: Literal["greater", "less"]) -> bool | None:
        """True when the interval lies wholly above 0 (``expect="greater"``) or below it (``"less"``), False
        when it lies wholly on the other side, None (inconclusive) when it contains 0, is undefined, or rests on
        fewer than :data:`MIN_SEEDS` values."""
        if expect not in ("greater", "less"):
            raise ValueError(f"expect must be 'greater' or 'less', got {expect!r}")
        if self.n < MIN_SEEDS or math.isnan(self.low) or math.isnan(self.high):
            return None
        above, below = self.low > 0, self.high < 0
        if not (above or below):
            return None
        return above if expect == "greater" else below

    def _decidable(self) -> bool:
        return self.n >= MIN_SEEDS and not (math.isnan(self.low) or math.isnan(self.high))

    def exceeds(self, margin: float) -> bool | None:
        """A claim "by more than ``margin``" (e.g. "much worse: more than 1 point"): True when the interval lies
        wholly above ``margin``, False when wholly below it, None when it contains it (or is undecidable)."""
        if not self._decidable():
            return None
        if self.low > margin:
            return True
        if self.high < margin:
            return False
        return None

    def within(self, bound: float) -> bool | None:
        """A claim of similarity ("within ``bound`` of each other"), judged as an equivalence test: True when the
        interval lies wholly inside ``[-bound, bound]``, False when wholly outside it, None otherwise."""
        if bound < 0:
            raise ValueError(f"bound must be >= 0, got {bound}")
        if not self._decidable():
            return None
        if -bound <= self.low and self.high <= bound:
            return True
        if self.low > bound or self.high < -bound:
            return False
        return None

    def __str__(self) -> str:
        if math.isnan(self.low):
            return f"{self.mean:.4g} (n={self.n})"
        return f"{self.mean:.4g} ± {self.half_width:.2g} (n={self.n})"


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` with a Student-t interval (Bessel-corrected standard deviation)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_interval needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, confidence)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, confidence)


def compare(a: Sequence[float], b: Sequence[float], *, paired: bool = True, confidence: float = 0.95) -> Interval:
    """Interval for mean(a − b): paired over seeds (same seed, same data split) by default, else Welch's."""
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired comparison needs as many values in a as in b, got {len(a)} and {len(b)}")
        return mean_interval([x - y for x, y in zip(a, b)], confidence)
    ia, ib = mean_interval(a, confidence), mean_interval(b, confidence)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return Interval(ia.mean - ib.mean, math.nan, math.nan, min(na, nb), confidence)
    va = sum((x - ia.mean) ** 2 for x in a) / (na - 1) / na
    vb = sum((x - ib.mean) ** 2 for x in b) / (nb - 1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        d = ia.mean - ib.mean
        return Interval(d, d, d, min(na, nb), confidence)
    dof = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, dof)) * se
    d = ia.mean - ib.mean
    return Interval(d, d - half, d + half, min(na, nb), confidence)


def all_hold(verdicts: Sequence[bool | None]) -> bool | None:
    """A claim made of several comparisons ("worse than each of A, B and C"): False when any part does not hold,
    else None (inconclusive) when any part is inconclusive, else True."""
    if False in verdicts:
        return False
    return None if None in verdicts else True


def verdict_word(holds: bool | None) -> str:
    """'holds', 'does not hold' or 'inconclusive' (for seed-based verdicts)."""
    return {True: "holds", False: "does not hold", None: "inconclusive"}[holds]
