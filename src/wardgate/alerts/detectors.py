"""Anomaly detectors: pure functions of a window's value and its history.

``seasonal``: the baseline is the same window at the same hour of the day on the previous days and at the same hour
and day of the week on the previous weeks (``baseline_offsets``); the score is a robust z-score, (value - median) /
(1.4826 × MAD), with the MAD floored so that a flat history does not turn any wobble into an alert. ``threshold``: the
value against fixed bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from wardgate.config.telemetry import SeasonalDetector, ThresholdDetector

DAY_S = 86_400
WEEK_S = 7 * DAY_S
DAYS_BACK = 6  # the same hour on each of the previous 6 days …
WEEKS_BACK = 4  # … and on the same weekday of the previous 4 weeks
MIN_HISTORY = 3  # fewer baseline windows with data: no verdict (a new deployment has no history to compare with)
MAD_TO_SIGMA = 1.4826
MAD_FLOOR_SHARE = 0.1  # the spread is taken as at least 10 % of the median (and at least `floor`)


@dataclass(frozen=True, slots=True)
class Verdict:
    firing: bool
    value: float
    baseline: float | None = None
    score: float | None = None


def baseline_offsets() -> list[int]:
    """Seconds back from the window's start of each baseline window."""
    days = [d * DAY_S for d in range(1, DAYS_BACK + 1)]
    weeks = [w * WEEK_S for w in range(1, WEEKS_BACK + 1)]
    return sorted(set(days + weeks))


def seasonal(detector: SeasonalDetector, value: float, history: list[float], floor: float) -> Verdict:
    """Upward anomalies only: spend, errors and latency alert when they rise."""
    if len(history) < MIN_HISTORY:
        return Verdict(False, value)
    center = median(history)
    mad = median(abs(h - center) for h in history)
    spread = max(MAD_TO_SIGMA * mad, MAD_FLOOR_SHARE * abs(center), floor)
    score = (value - center) / spread
    return Verdict(score > detector.sensitivity, value, center, score)


def threshold(detector: ThresholdDetector, value: float) -> Verdict:
    above = detector.above is not None and value > detector.above
    below = detector.below is not None and value < detector.below
    return Verdict(above or below, value)
