"""Anomaly detectors: pure functions of a window's value and its history.

``seasonal``: the baseline is the same window at the same hour and day of the week on the previous weeks, and the
windows just before and after it (``baseline_offsets``: hour of day and day of week, and enough samples for a robust
spread); the score is a robust z-score, (value - median) / (1.4826 × MAD), with the spread floored so that a flat
history does not turn any wobble into an alert. ``threshold``: the value against fixed bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import erfc, exp, log10, sqrt
from statistics import median

from wardgate.config.telemetry import SeasonalDetector, ThresholdDetector

DAY_S = 86_400
WEEK_S = 7 * DAY_S
WEEKS_BACK = 4  # the same weekday and hour of the previous 4 weeks …
NEIGHBOURS = 2  # … and the 2 windows before and after each
MIN_HISTORY = 5  # fewer baseline windows with data: no verdict (a new deployment has no history to compare with)
MAD_TO_SIGMA = 1.4826
SHORT_S = 60  # the short window every seasonal alert also evaluates …
SHORT_FACTOR = 4 / 3  # … at a higher score (sensitivity × this): its noisier windows are looked at 5 times as often
# a p95 also reads its last 30 s (at the same score): a p95 does not add up over its window, so a ×2 shows only once
# most of the window's rows are slow, and the last minute takes ~40 s to show it. Judged from SHARP_MIN_ROWS rows:
# below, a p95 is one of the window's 5 slowest calls, which one slow call moves.
SHARP_S = 30
SHARP_MIN_ROWS = 100
P95_SIGNALS = frozenset({"ttft_p95", "latency_p95"})
COUNT_FACTOR = 4 / 3  # an error count is tested at the normal tail of sensitivity × this (3 → 4σ, 3e-5) …
COUNT_TESTS_PER_MINUTE = 3.0  # … when tested 3 times a minute; tested more often, at a tail smaller in proportion
MAD_FLOOR_SHARE = 0.2  # the spread is taken as at least 20 % of the median (and at least `floor`)


@dataclass(frozen=True, slots=True)
class Verdict:
    firing: bool
    value: float
    baseline: float | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Window:
    seconds: int
    factor: float = 1.0  # the score it fires at is sensitivity × this
    min_rows: int = 0  # fewer rows in it: no verdict


def windows(window_s: int, signal: str = "") -> list[Window]:
    """The windows a seasonal alert looks at: its own, the last ``SHORT_S`` when that is shorter, and for a p95 the
    last ``SHARP_S``."""
    out = [Window(window_s)]
    if window_s > SHORT_S:
        out.append(Window(SHORT_S, SHORT_FACTOR))
    if signal in P95_SIGNALS and window_s > SHARP_S:
        out.append(Window(SHARP_S, SHORT_FACTOR, SHARP_MIN_ROWS))
    return out


def baseline_offsets(window_s: int) -> list[int]:
    """Seconds back from the window's start of each baseline window."""
    return sorted(
        w * WEEK_S + k * window_s for w in range(1, WEEKS_BACK + 1) for k in range(-NEIGHBOURS, NEIGHBOURS + 1)
    )


def seasonal(
    detector: SeasonalDetector,
    value: float,
    history: list[float],
    floor: float,
    trials: float | None = None,
    factor: float = 1.0,
) -> Verdict:
    """Upward anomalies only: spend, errors and latency alert when they rise. ``trials``: for a rate (errors per
    request), the window's request count: the spread is then at least the counting noise of the expected errors
    (Poisson, plus one), so a quiet hour's two errors are not an incident."""
    if len(history) < MIN_HISTORY:
        return Verdict(False, value)
    center = median(history)
    mad = median(abs(h - center) for h in history)
    spread = max(MAD_TO_SIGMA * mad, MAD_FLOOR_SHARE * abs(center), floor)
    if trials:
        spread = max(spread, (sqrt(center * trials) + 1) / trials)
    score = (value - center) / spread
    return Verdict(score > detector.sensitivity * factor, value, center, score)


def tail_probability(sensitivity: float) -> float:
    """The one-sided normal tail beyond ``sensitivity`` standard deviations: the chance a count test accepts."""
    return 0.5 * erfc(sensitivity / sqrt(2))


def poisson_at_least(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean): summed term by term, or the normal approximation (with continuity
    correction) past a mean of 200, where it is close and the terms would underflow."""
    if k <= 0:
        return 1.0
    if mean > 200:
        return 0.5 * erfc((k - 0.5 - mean) / sqrt(2 * mean))
    term = exp(-mean)
    below = term
    for i in range(1, k):
        term *= mean / i
        below += term
    return max(0.0, 1.0 - below) if below < 0.999 else _upper_terms(k, mean)


def _upper_terms(k: int, mean: float) -> float:
    """The same tail as a sum from k upwards (no cancellation when it is tiny)."""
    term = exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
    total, i = 0.0, k
    while term > total * 1e-12 and i < k + 10_000:
        total += term
        i += 1
        term *= mean / i
    return total


def error_burst(
    detector: SeasonalDetector,
    errors: int,
    requests: int,
    history: list[tuple[int, int, int]],
    min_rise: float,
    tests_per_minute: float = COUNT_TESTS_PER_MINUTE,
) -> Verdict:
    """An error-rate window (``errors`` of ``requests``) against ``history``: (seconds back, errors, requests) of
    each baseline window. The baseline rate is the errors (plus one) over the requests of the baseline windows but
    those of the week with the highest rate (a past incident moves one week's). It fires when so many errors are
    unlikely at that rate (Poisson tail below the normal tail of ``sensitivity × COUNT_FACTOR``: overlapping windows
    are tested at every tick; ``tests_per_minute``, the runner's ticks a minute, divides that tail in proportion past
    3, so a shorter tick does not add false alerts) and the rate rose by at least ``min_rise`` and doubled: a real
    change, not a significant 0.1 % on a million requests."""
    value = errors / requests if requests else 0.0
    weeks: dict[int, list[int]] = {}
    for offset, e, n in history:
        week = weeks.setdefault(round(offset / WEEK_S), [0, 0])
        week[0] += e
        week[1] += n
    by_rate = sorted((we / wn, we, wn) for we, wn in weeks.values() if wn)
    if len(history) < MIN_HISTORY or not by_rate:
        return Verdict(False, value)
    kept = by_rate[:-1] if len(by_rate) >= 3 else by_rate  # the week with the highest rate may hold a past incident
    # pooled over the other weeks, with one error more: a quiet hour with no error in its history is not a zero rate
    baseline = (sum(e for _, e, _ in kept) + 1) / (sum(n for _, _, n in kept) + 1)
    expected = baseline * requests
    p = poisson_at_least(errors, expected)
    score = -log10(p) if p > 0 else float("inf")
    alpha = (
        tail_probability(detector.sensitivity * COUNT_FACTOR)
        * COUNT_TESTS_PER_MINUTE
        / max(tests_per_minute, COUNT_TESTS_PER_MINUTE)
    )
    firing = value >= max(2 * baseline, baseline + min_rise) and p < alpha
    return Verdict(firing, value, baseline, score)


def threshold(detector: ThresholdDetector, value: float) -> Verdict:
    above = detector.above is not None and value > detector.above
    below = detector.below is not None and value < detector.below
    return Verdict(above or below, value)
