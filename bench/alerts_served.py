"""Served alert delay: recall, false alerts and the delay from an incident's start to the webhook call, modelling what
the served runner sees (issue 15, point 7).

    python bench/alerts_served.py --peaks 600,1200,1800,3000 --seeds 1,2,3 --series 10

What bench/alerts_recall.py leaves out, and this models:

- the tick's phase: incidents start at a random second (seeded), not on the runner's tick grid, so the first
  evaluation after a start comes 0 to ``--tick`` seconds later;
- the ledger's flush: a row reaches the shared ledger at the usage writer's next flush, so an evaluation misses the
  rows of its last D seconds, D ~ U(0, ``ledger.flush_interval_s``) + ``--write-s`` (drawn per evaluation);
- the evaluation's own duration (``--eval-s``, measured by bench/alerts_cost.py) before the webhook is called;
- TTFT as the runner computes it: the nearest-rank p95 of every row's TTFT in the window (rows lognormal around a
  median that follows the load, ``--ttft-sigma``; counted in 1/16-octave buckets), not a window's mean;
- notification as the runner decides it: the first firing in a window index (``now // window_s``) whose previous
  index did not fire. A false alert is a notification outside every incident's reach; the delay is that of the
  first notification in the reach (incident start .. end + the alert window).

Traffic, daily and weekly cycle, spend and error models are bench/alerts_recall.py's (per-20 s spend multiplier
U(0.8, 1.2), 0.5 % errors); incidents: spend ×3, TTFT ×2, errors 5 % (from 0.5 %), 10 minutes each, 6 a series in
its test week, after 4 weeks of history. Detectors, windows, baselines and floors are imported from
wardgate.alerts; every firing verdict comes from the real detector functions (a vectorised pre-filter, a necessary
condition, only skips evaluations that cannot fire; ``--check`` verifies it on random samples).
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from wardgate.alerts import detectors, signals
from wardgate.alerts.runner import TICK_S
from wardgate.config.schema import LedgerConfig
from wardgate.config.telemetry import SeasonalDetector

RES = 10  # seconds a data bin: divides every tick, window and baseline offset
DAY_B = 86_400 // RES
WEEK_B = 7 * DAY_B
HISTORY_WEEKS = 4
ALERT_WINDOW_S = 300
INCIDENT_S = 600
NOISE_S = 20  # the spend multiplier's period, as bench/alerts_recall.py
OCTAVE = 16  # histogram buckets per doubling of TTFT
TTFT_UNIT_MS = 10.0  # bucket 0's lower edge
Array = NDArray[np.float64]


@dataclass
class Plan:
    """The test week's incidents (start, in seconds from the series' start) and each bin's flush cut."""

    starts: list[float]
    tail_s: Array  # per bin: seconds at its end the evaluation ending there does not see yet


@dataclass
class Outcome:
    incidents: int = 0
    delays: list[float] = field(default_factory=list)
    false_alerts: int = 0


def load(bins: NDArray[np.int64]) -> Array:
    """Share of the peak at each bin: a daily cycle (low at night) and a quieter weekend."""
    hour = (bins % DAY_B) * RES / 3600
    daily = np.where((hour >= 6) & (hour <= 20), 0.35 + 0.65 * np.maximum(0.0, np.sin(np.pi * (hour - 6) / 14)), 0.35)
    weekend = np.where(((bins // DAY_B) % 7 >= 5), 0.5, 1.0)
    return np.asarray(daily * weekend, dtype=np.float64)


def overlap(nbins: int, cut: Array, starts: list[float]) -> tuple[Array, Array]:
    """Seconds of incident in each bin's seen part [0, RES - cut) and unseen tail [RES - cut, RES)."""
    head, tail = np.zeros(nbins), np.zeros(nbins)
    for start in starts:
        end = start + INCIDENT_S
        for b in range(int(start // RES), int(end // RES) + 1):
            lo, mid, hi = b * RES, b * RES + RES - cut[b], (b + 1) * RES
            head[b] += max(0.0, min(end, mid) - max(start, lo))
            tail[b] += max(0.0, min(end, hi) - max(start, mid))
    return head, tail


class Series:
    """One synthetic series: per bin, the seen part's and the tail's numerator and denominator (sums), or TTFT
    histograms."""

    def __init__(self, kind: str, rng: np.random.Generator, peak: float, plan: Plan, sigma: float, step: int) -> None:
        self.kind = kind
        self.step = step  # bins a tick
        self._grid: dict[tuple[int, int], Array] = {}
        self.nbins = nbins = (HISTORY_WEEKS + 1) * WEEK_B
        bins = np.arange(nbins, dtype=np.int64)
        rate = peak / 60 * load(bins)  # requests a second
        head_inc, tail_inc = overlap(nbins, plan.tail_s, plan.starts)
        tail_len = plan.tail_s
        head_len = RES - tail_len
        parts = []
        for length, inc in ((head_len, head_inc), (tail_len, tail_inc)):
            normal = rng.poisson(rate * np.maximum(length - inc, 0.0))
            hit = rng.poisson(rate * inc)
            parts.append((normal, hit))
        if kind == "ttft_p95":
            self._ttft(rng, bins, parts, sigma)
            return
        num, den = [], []
        if kind == "spend_usd":
            noise = rng.uniform(0.8, 1.2, nbins * RES // NOISE_S + 1)[bins * RES // NOISE_S]
            for normal, hit in parts:
                num.append((normal + 3 * hit) * 0.002 * noise)
                den.append(np.ones(nbins))
        else:
            for normal, hit in parts:
                num.append((rng.binomial(normal, 0.005) + rng.binomial(hit, 0.05)).astype(np.float64))
                den.append((normal + hit).astype(np.float64))
        self.num = np.concatenate([[0.0], np.cumsum(num[0] + num[1])])  # prefix sums of whole bins
        self.den = np.concatenate([[0.0], np.cumsum(den[0] + den[1])])
        self.tail_num, self.tail_den = num[1], den[1]

    def _ttft(
        self,
        rng: np.random.Generator,
        bins: NDArray[np.int64],
        parts: list[tuple[NDArray[np.int64], ...]],
        sigma: float,
    ) -> None:
        """Every row's TTFT, lognormal around a median that follows the load a little (350 ms idle, 450 ms at the
        peak), ×2 in an incident; counted per bin in 1/OCTAVE-octave buckets."""
        median = np.log2((350 + 100 * load(bins)) / TTFT_UNIT_MS)
        width = int(OCTAVE * (median.max() + 1 + 6 * sigma / math.log(2))) + 1
        hists = []
        for normal, hit in parts:
            hist = np.zeros((len(bins), width), dtype=np.int32)
            for lo in range(0, len(bins), 50_000):
                hi = min(lo + 50_000, len(bins))
                for counts, extra in ((normal[lo:hi], 0.0), (hit[lo:hi], 1.0)):
                    rows = np.repeat(np.arange(hi - lo), counts)
                    log2 = median[lo:hi][rows] + extra + rng.standard_normal(len(rows)) * (sigma / math.log(2))
                    bucket = np.clip((log2 * OCTAVE).astype(np.int64), 0, width - 1)
                    hist[lo:hi] += (
                        np.bincount(rows * width + bucket, minlength=(hi - lo) * width)
                        .reshape(hi - lo, width)
                        .astype(np.int32)
                    )
            hists.append(hist)
        self.tail_hist = hists[1]
        full = hists[0]
        full += hists[1]
        cells = full.reshape(-1, self.step, width).sum(axis=1, dtype=np.int32)  # windows end on the tick grid
        self.hist_prefix = np.zeros((len(cells) + 1, width), dtype=np.int32)
        running = np.zeros(width, dtype=np.int32)
        for lo in range(0, len(cells), 4096):  # an axis-0 cumsum in row blocks: 5× faster than in one call
            block = np.cumsum(cells[lo : lo + 4096], axis=0, dtype=np.int32)
            block += running
            self.hist_prefix[lo + 1 : lo + 1 + len(block)] = block
            running = block[-1]

    def past(self, ends: NDArray[np.int64], width: int, step: int) -> Array:
        """Values of the whole windows of ``width`` bins ending at ``ends`` (on the grid of ``step`` bins), each
        window computed once for every baseline offset that reads it."""
        key = (width, step)
        if key not in self._grid:
            grid = np.arange(width + (-width) % step, self.nbins + 1, step, dtype=np.int64)
            full = np.full(self.nbins // step + 1, np.nan)
            for chunk in range(0, len(grid), 50_000):
                part = grid[chunk : chunk + 50_000]
                full[part // step] = self.values(part, width, seen=False)[0]
            self._grid[key] = full
        out = np.full(len(ends), np.nan)
        ok = ends - width >= 0
        out[ok] = self._grid[key][ends[ok] // step]
        return out

    def values(self, ends: NDArray[np.int64], width: int, seen: bool) -> tuple[Array, Array]:
        """(value, requests) of the windows of ``width`` bins ending at ``ends``; ``seen``: without the last bin's
        tail (what an evaluation at that end reads). NaN where the window has no rows."""
        if self.kind == "ttft_p95":
            hist = self.hist_prefix[ends // self.step] - self.hist_prefix[(ends - width) // self.step]
            if seen:
                hist = hist - self.tail_hist[ends - 1]
            n = hist.sum(axis=1)
            rank = np.ceil(0.95 * n)
            idx = np.argmax(np.cumsum(hist, axis=1) >= rank[:, None], axis=1)
            value = TTFT_UNIT_MS * 2 ** ((idx + 0.5) / OCTAVE)
            return np.where(n > 0, value, np.nan), n.astype(np.float64)
        num = self.num[ends] - self.num[ends - width]
        den = self.den[ends] - self.den[ends - width]
        if seen:
            num, den = num - self.tail_num[ends - 1], den - self.tail_den[ends - 1]
        if self.kind == "spend_usd":
            return num, den
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan), den


def firing(
    series: Series, ends: NDArray[np.int64], step: int, sensitivity: float, check: bool, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """Whether the runner's evaluation at each end (in bins) fires, by the real detectors."""
    detector = SeasonalDetector(type="seasonal", sensitivity=sensitivity)
    fired = np.zeros(len(ends), dtype=bool)
    kind = series.kind
    if kind == "error_rate":
        long_b = ALERT_WINDOW_S // RES
        offsets = detectors.baseline_offsets(ALERT_WINDOW_S)
        past = [series.values(ends - o // RES, long_b, seen=False) for o in offsets]
        for window in detectors.windows(ALERT_WINDOW_S, kind):
            window_s = window.seconds
            rise = signals.floor(kind, window_s)
            value, n = series.values(ends, window_s // RES, seen=True)
            candidates = np.nonzero((n > 0) & (value >= rise))[0]  # necessary: the rate rose by `rise` at least
            chosen = set(candidates.tolist())
            for i in _with_samples(candidates, len(ends), check, rng):
                history = [
                    (o, round(r[i] * m[i]), round(m[i])) for o, (r, m) in zip(offsets, past, strict=True) if m[i] > 0
                ]
                errors, requests = round(value[i] * n[i]), round(n[i])
                verdict = detectors.error_burst(detector, errors, requests, history, rise, 60 / (step * RES))
                assert i in chosen or not verdict.firing, "the pre-filter skipped a firing evaluation"
                fired[i] |= verdict.firing
        return fired
    for window in detectors.windows(ALERT_WINDOW_S, kind):
        window_s, factor = window.seconds, window.factor
        width = window_s // RES
        offsets = detectors.baseline_offsets(window_s)
        value, rows = series.values(ends, width, seen=True)
        past = np.stack([series.past(ends - o // RES, width, step) for o in offsets], axis=1)
        floor = signals.floor(kind, window_s)
        with np.errstate(invalid="ignore"):
            centre = np.nanmedian(past, axis=1)
            mad = np.nanmedian(np.abs(past - centre[:, None]), axis=1)
            spread = np.maximum(
                np.maximum(detectors.MAD_TO_SIGMA * mad, detectors.MAD_FLOOR_SHARE * np.abs(centre)), floor
            )
            score = (value - centre) / spread
        # necessary (0.9: float rounding): the real verdict decides
        candidates = np.nonzero((score > 0.9 * sensitivity * factor) & (rows >= window.min_rows))[0]
        chosen = set(candidates.tolist())
        for i in _with_samples(candidates, len(ends), check, rng):
            if math.isnan(value[i]):
                continue
            history = [float(h) for h in past[i] if not math.isnan(h)]
            if rows[i] < window.min_rows:  # the runner's rule: no verdict
                continue
            verdict = detectors.seasonal(detector, float(value[i]), history, floor, None, factor)
            assert i in chosen or not verdict.firing, "the pre-filter skipped a firing evaluation"
            fired[i] |= verdict.firing
    return fired


def _with_samples(candidates: NDArray[np.int64], total: int, check: bool, rng: np.random.Generator) -> list[int]:
    out = [int(i) for i in candidates]
    if check:
        out += [int(i) for i in rng.integers(0, total, 200)]
    return out


def plan(rng: np.random.Generator, tick: int, flush_s: float, write_s: float) -> Plan:
    """6 incidents at random seconds of the test week, ≥ 1 h apart; a flush cut per bin."""
    week_s = WEEK_B * RES
    test_start = HISTORY_WEEKS * week_s
    slot = (week_s - 2 * 3600) // 6
    starts = [float(test_start + 3600 + k * slot + rng.uniform(0, slot - 3600)) for k in range(6)]
    nbins = (HISTORY_WEEKS + 1) * WEEK_B
    cut = np.minimum(rng.uniform(0, flush_s, nbins) + write_s, RES)
    del tick
    return Plan(starts, cut)


def run(kind: str, seed: int, index: int, args: argparse.Namespace, peak: float) -> Outcome:
    rng = np.random.default_rng([seed, index, ["spend_usd", "ttft_p95", "error_rate"].index(kind)])
    tick = int(args.tick)
    incidents = plan(rng, tick, args.flush, args.write_s)
    step = tick // RES
    series = Series(kind, rng, peak, incidents, args.ttft_sigma, step)
    test_start_b = HISTORY_WEEKS * WEEK_B
    ends = np.arange(test_start_b + step, (HISTORY_WEEKS + 1) * WEEK_B + 1, step, dtype=np.int64)
    fired = firing(series, ends, step, args.sensitivity, args.check, rng)
    # the runner's notification: the first firing of a window index whose previous index did not fire
    seconds = ends * RES
    index_of = seconds // ALERT_WINDOW_S
    fired_indexes = set(index_of[fired].tolist())
    notified, seen_index = [], set()
    for t, i, f in zip(seconds.tolist(), index_of.tolist(), fired.tolist(), strict=True):
        if f and i not in seen_index:
            seen_index.add(i)
            if i - 1 not in fired_indexes:
                notified.append(t)
    out = Outcome(incidents=len(incidents.starts))
    reaches = [(s, s + INCIDENT_S + ALERT_WINDOW_S) for s in incidents.starts]
    for t in notified:
        if not any(s < t <= r for s, r in reaches):
            out.false_alerts += 1
    for s, r in reaches:
        first = next((t for t in notified if s < t <= r), None)
        if first is not None:
            out.delays.append(first - s + args.eval_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10, help="series a signal, peak and seed")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--peaks", default="600,1200,1800,3000", help="requests a minute at the daily peak")
    parser.add_argument("--signals", default="spend_usd,ttft_p95,error_rate")
    parser.add_argument("--sensitivity", type=float, default=3.0)
    parser.add_argument("--tick", type=float, default=TICK_S, help="the runner's tick (default: its TICK_S)")
    parser.add_argument("--flush", type=float, default=LedgerConfig().flush_interval_s, help="ledger flush (s)")
    parser.add_argument("--write-s", type=float, default=0.1, help="a flush's write, on top of its interval (s)")
    parser.add_argument("--eval-s", type=float, default=0.0, help="one evaluation round's duration (s)")
    parser.add_argument("--ttft-sigma", type=float, default=0.5, help="log-spread of a request's TTFT")
    parser.add_argument("--check", action="store_true", help="verify the pre-filter on random evaluations")
    args = parser.parse_args()
    assert args.tick % RES == 0 and 60 % args.tick == 0, f"the tick must be a multiple of {RES} s dividing 60"
    print(
        f"tick {args.tick:g} s, flush {args.flush:g} s + {args.write_s:g} s, evaluation {args.eval_s:g} s, "
        f"TTFT sigma {args.ttft_sigma:g}, sensitivity {args.sensitivity:g}, "
        f"{args.series} series a signal, peak and seed"
    )
    print("| peak/min | signal | seed | incidents | recall | false / series / week | delay median (s) | max | ≤ 60 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for peak in [float(p) for p in args.peaks.split(",")]:
        for kind in args.signals.split(","):
            for seed in [int(s) for s in args.seeds.split(",")]:
                total = Outcome()
                for index in range(args.series):
                    one = run(kind, seed, index, args, peak)
                    total.incidents += one.incidents
                    total.delays += one.delays
                    total.false_alerts += one.false_alerts
                d = total.delays
                print(
                    f"| {peak:g} | {kind} | {seed} | {total.incidents} | {len(d) / total.incidents:.1%} | "
                    f"{total.false_alerts / args.series:.2f} | {statistics.median(d) if d else float('nan'):.1f} | "
                    f"{max(d) if d else float('nan'):.1f} | {sum(x <= 60 for x in d) / total.incidents:.1%} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
