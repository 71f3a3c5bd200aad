"""One-sided tests behind a canary's rollback: pure functions over counts, so a decision is never taken on noise.

Both rollback rules ask the same question of a count: out of ``n`` canary outcomes, ``k`` were "bad" (a failure, or
a latency above the baseline's p95 plus the margin); is that significantly more than a share ``p0`` would give?
The exact binomial tail P(X ≥ k | n, p0) answers it. The tail is summed from ``k`` upwards in log space and stops
once its terms are negligible, so a window of many thousands of outcomes costs a few dozen steps, not ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_NEGLIGIBLE = 1e-15


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if k <= math.floor(n * p):
        return _upper_from_lower(k, n, p)
    log_p, log_q = math.log(p), math.log1p(-p)
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
    total = 0.0
    term = math.exp(log_term)
    i = k
    while i <= n:
        total += term
        if term < total * _NEGLIGIBLE:
            break
        term *= (n - i) / (i + 1) * p / (1 - p)  # ratio of consecutive binomial terms: falls past the mean
        i += 1
    return min(total, 1.0)


def _upper_from_lower(k: int, n: int, p: float) -> float:
    """At or below the mean: 1 - P(X ≤ k - 1), and P(X ≤ k - 1) is the upper tail of n - X ~ Binomial(n, 1 - p)."""
    return max(1.0 - binomial_tail(n - k + 1, n, 1.0 - p), 0.0)


def exceeds(k: int, n: int, p0: float, significance: float) -> bool:
    """Is a share of k in n significantly above p0 (one-sided, at ``significance``)?"""
    return n > 0 and k > n * p0 and binomial_tail(k, n, p0) < significance


def count_above(histogram: Mapping[int, int], bounds: tuple[float, ...], threshold: float) -> tuple[int, int]:
    """(samples certainly above ``threshold``, all samples) of a latency histogram whose bin ``i`` holds the values
    in (bounds[i-1], bounds[i]]. A bin that straddles the threshold is not counted: the test errs towards keeping
    the canary."""
    above = total = 0
    for index, count in histogram.items():
        total += count
        lower = bounds[index - 1] if index > 0 else 0.0
        if lower >= threshold:
            above += count
    return above, total
