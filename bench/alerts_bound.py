"""How fast can any count test see a 5 % error burst? A sweep of the false-alarm level (issue 15, point 7).

    .venv/bin/python bench/alerts_bound.py --peak 600 --series 10

The series, incidents and baseline are bench/alerts_recall.py's (seed 15). At every 20-second tick this evaluates a
scan test that is at least as sensitive as the runner's: the Poisson tail of the errors of each of the last 20, 40,
60 s and 5 min against the baseline rate (the runner's, from the same baseline windows), firing when the smallest
tail is below ``alpha``, for ``alpha`` from 1e-3 (tens of false alerts a week) down to 1e-9. Whatever test is used,
an incident that does not alert within 60 s here at a given false-alert rate could not have been seen within 60 s
by a test with that rate: the errors of its first minute are not enough (a likelihood-ratio test on a Poisson count
is a threshold on the count: Neyman-Pearson).
"""

from __future__ import annotations

import argparse
import random
import sys
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import alerts_recall as ar  # noqa: E402

from wardgate.alerts import detectors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peak", type=float, default=600.0)
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--suffixes", default="1,2,3,15", help="window lengths tested, in 20 s ticks")
    args = parser.parse_args()
    ar.PEAK = args.peak
    suffixes = [int(x) for x in args.suffixes.split(",")]
    rng = random.Random(args.seed)
    tick = ar.TICK
    alphas = [10 ** (-x / 4) for x in range(12, 37, 2)]
    found = {a: [0, 0, 0, 0] for a in alphas}  # incidents, detected, within 60 s, false episodes
    long_width, offsets = 300 // tick, [o // tick for o in detectors.baseline_offsets(300)]
    for _ in range(args.series):
        test_start = ar.HISTORY_WEEKS * ar.WEEK
        ticks = test_start + ar.WEEK
        incidents = sorted(rng.sample(range(test_start + 540, ticks - 540, 291), 6))
        num, den = ar.series(rng, "error_rate", ticks, incidents)
        pn, pd = [0.0, *accumulate(num)], [0.0, *accumulate(den)]
        smallest = []
        for end in range(test_start + long_width, ticks + 1):
            weeks: dict[int, list[int]] = {}
            for o in offsets:
                week = weeks.setdefault(round(o * tick / detectors.WEEK_S), [0, 0])
                week[0] += round(pn[end - o] - pn[end - o - long_width])
                week[1] += round(pd[end - o] - pd[end - o - long_width])
            kept = sorted((e / n, e, n) for e, n in weeks.values() if n)[:-1]
            base = (sum(e for _, e, _ in kept) + 1) / (sum(n for _, _, n in kept) + 1)
            best = 1.0
            for k in suffixes:
                e, n = round(pn[end] - pn[end - k]), round(pd[end] - pd[end - k])
                if n and e / n >= max(2 * base, base + 0.01):
                    best = min(best, detectors.poisson_at_least(e, base * n))
            smallest.append(best)
        first = test_start + long_width
        covered: set[int] = set()
        for start in incidents:
            covered.update(range(start + 1, start + ar.INCIDENT + long_width))
        for a in alphas:
            r = found[a]
            for start in incidents:
                r[0] += 1
                hit = next(
                    (e for e in range(start + 1, start + ar.INCIDENT + long_width) if smallest[e - first] < a), None
                )
                if hit is not None:
                    r[1] += 1
                    r[2] += (hit - start) * tick <= 60
            previous = False
            for i, p in enumerate(smallest):
                if p < a and not previous and first + i not in covered:
                    r[3] += 1
                previous = p < a
    print(f"peak {args.peak:g} requests/min, {args.series} series, windows {suffixes} ticks")
    print("| alpha | recall | within 60 s | false alerts / series / week |")
    print("|---|---|---|---|")
    for a in alphas:
        total, detected, fast, false = found[a]
        print(f"| {a:.1e} | {detected / total:.1%} | {fast / total:.1%} | {false / args.series:.2f} |")


if __name__ == "__main__":
    main()
