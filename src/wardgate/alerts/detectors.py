"""Anomaly detectors: pure functions of a window's value and its history.

``seasonal``: the baseline is the same window at the same hour and day of the week on the previous weeks, and the
windows just before and after it (``baseline_offsets``: hour of day and day of week, and enough samples for a robust
spread); the score is a robust z-score, (value - median) / (1.4826 × MAD), with the spread floored so that a flat
history does not turn any wobble into an alert. ``threshold``: the value against fixed bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
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
MAD_FLOOR_SHARE = 0.2  # the spread is taken as at least 20 % of the median (and at least `floor`)


@dataclass(frozen=True, slots=True)
class Verdict:
    firing: bool
    value: float
    baseline: float | None = None
    score: float | None = None


def windows(window_s: int) -> list[tuple[int, float]]:
    """(window, score factor) a seasonal alert looks at: its own, and the last ``SHORT_S`` when that is shorter."""
    return [(window_s, 1.0), (SHORT_S, SHORT_FACTOR)] if window_s > SHORT_S else [(window_s, 1.0)]


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


def threshold(detector: ThresholdDetector, value: float) -> Verdict:
    above = detector.above is not None and value > detector.above
    below = detector.below is not None and value < detector.below
    return Verdict(above or below, value)
