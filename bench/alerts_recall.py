"""Recall, false alerts and detection delay of the seasonal detector on synthetic series (issue 15, point 7).

    .venv/bin/python bench/alerts_recall.py                 # 20 series × 1 test week, seed 15
    .venv/bin/python bench/alerts_recall.py --series 50 --seed 1

Each series is per-minute traffic with a daily and a weekly cycle and noise, 4 weeks of history then a test week with
incidents injected at random times: spend ×3 for 10 minutes, TTFT ×2 for 10 minutes, a 5 % error burst (from 0.5 %)
for 10 minutes. The detector is the one the runner uses (alerts/detectors.py, the same baseline windows and floors),
evaluated every minute over the trailing 5-minute window, as the runner does every 20 s. An incident is detected if an
alert fires while it is in the window; a false alert is an episode (consecutive firing minutes) that touches no
incident. Delay: minutes from the incident's start to the first firing evaluation.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from itertools import accumulate

from wardgate.alerts import detectors, signals
from wardgate.config.telemetry import SeasonalDetector

MIN = 60
DAY = 1440  # minutes
WEEK = 7 * DAY
HISTORY_WEEKS = 4
WINDOW = 5  # minutes
INCIDENT = 10  # minutes


def base_rate(minute: int) -> float:
    """Requests a minute: a daily cycle (low at night) and a quieter weekend."""
    hour = (minute % DAY) / 60
    daily = 0.35 + 0.65 * max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.35
    weekend = 0.5 if (minute // DAY) % 7 in (5, 6) else 1.0
    return 40 * daily * weekend


def series(rng: random.Random, kind: str, minutes: int, incidents: list[int]) -> tuple[list[float], list[float]]:
    """Per minute: (numerator, denominator) so windows can be summed: spend (sum, 1), ttft (sum of ms, count),
    errors (errors, requests)."""
    num, den = [], []
    hit = set()
    for start in incidents:
        hit.update(range(start, start + INCIDENT))
    for m in range(minutes):
        requests = max(1, int(rng.gauss(base_rate(m), math.sqrt(base_rate(m)))))
        if kind == "spend_usd":
            value = requests * 0.002 * rng.uniform(0.8, 1.2) * (3 if m in hit else 1)
            num.append(value)
            den.append(1)
        elif kind == "ttft_p95":
            ttft = rng.gauss(400, 40) * (2 if m in hit else 1)
            num.append(ttft * requests)
            den.append(requests)
        else:
            p = 0.05 if m in hit else 0.005
            num.append(sum(rng.random() < p for _ in range(requests)))
            den.append(requests)
    return num, den


def window(prefix_num: list[float], prefix_den: list[float], kind: str, end: int) -> float:
    n = prefix_num[end] - prefix_num[end - WINDOW]
    d = prefix_den[end] - prefix_den[end - WINDOW]
    if kind == "spend_usd":
        return n
    return n / d if d else 0.0


def run(kind: str, rng: random.Random, sensitivity: float) -> tuple[int, int, int, list[int]]:
    test_start = HISTORY_WEEKS * WEEK
    minutes = test_start + WEEK
    incidents = sorted(rng.sample(range(test_start + 60, minutes - 60, 97), 6))
    num, den = series(rng, kind, minutes, incidents)
    pn, pd = [0.0, *accumulate(num)], [0.0, *accumulate(den)]
    detector = SeasonalDetector(type="seasonal", sensitivity=sensitivity)
    offsets = [o // MIN for o in detectors.baseline_offsets(WINDOW * MIN)]
    floor = signals.FLOORS[kind]
    firing = []
    for end in range(test_start + WINDOW, minutes + 1):
        value = window(pn, pd, kind, end)
        history = [window(pn, pd, kind, end - o) for o in offsets if end - o - WINDOW >= 0]
        trials = pd[end] - pd[end - WINDOW] if kind == "error_rate" else None
        firing.append(detectors.seasonal(detector, value, history, floor, trials).firing)
    detected, delays = 0, []
    for start in incidents:
        first = next(
            (end for end in range(start + 1, start + INCIDENT + WINDOW) if firing[end - test_start - WINDOW]), None
        )
        if first is not None:
            detected += 1
            delays.append(first - start)
    covered = set()
    for start in incidents:
        covered.update(range(start + 1, start + INCIDENT + WINDOW))
    false_episodes, previous = 0, False
    for i, fired in enumerate(firing):
        end = test_start + WINDOW + i
        if fired and not previous and end not in covered:
            false_episodes += 1
        previous = fired
    return len(incidents), detected, false_episodes, delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--sensitivity", type=float, default=3.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print("| signal | incidents | detected | recall | false alerts / series / week | delay median (min) | max |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("spend_usd", "ttft_p95", "error_rate"):
        total = found = false = 0
        delays: list[int] = []
        for _ in range(args.series):
            n, d, f, ds = run(kind, rng, args.sensitivity)
            total, found, false = total + n, found + d, false + f
            delays += ds
        recall = found / total
        median = statistics.median(delays) if delays else float("nan")
        print(
            f"| {kind} | {total} | {found} | {recall:.1%} | {false / args.series:.2f} | {median:g} | "
            f"{max(delays) if delays else '-'} |"
        )


if __name__ == "__main__":
    main()
