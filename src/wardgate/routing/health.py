"""Health of one subject (a deployment, or one arm of a canary): what the strategies, the breaker and the canary's
rollback read.

- latency and TTFT as EWMAs (``alpha`` is the weight of the newest observation). An EWMA older than
  ``stale_after_s`` counts as unknown, so a deployment that was slow once is probed again instead of shunned forever,
  and the first observation after that replaces the old value rather than blending with it;
- a rolling window of outcomes (ok / failed) in ten buckets, with a latency histogram per bucket (for p95);
- calls in flight: this worker's, plus the other workers' as last merged from Redis.

Recording is plain arithmetic on preallocated slots, no I/O. With Redis (shared.py), what was recorded since the last
merge is also kept as a delta (``take_delta``) and the merged result replaces the local view (``adopt``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

BUCKETS = 10
# latency histogram bounds: 5 ms to ~5 min in steps of 2^(1/4) (19%), so a p95 is known to within 19%
LATENCY_BOUNDS: tuple[float, ...] = tuple(0.005 * 2 ** (i / 4) for i in range(64))


def latency_bin(seconds: float) -> int:
    return bisect_left(LATENCY_BOUNDS, seconds)  # len(LATENCY_BOUNDS) for anything slower than the last bound


def bin_upper(index: int) -> float:
    return LATENCY_BOUNDS[index] if index < len(LATENCY_BOUNDS) else math.inf


@dataclass(slots=True)
class Bucket:
    ok: int = 0
    failed: int = 0
    bins: dict[int, int] = field(default_factory=dict)  # latency bin → count (sparse)

    def add(self, other: Bucket) -> None:
        self.ok += other.ok
        self.failed += other.failed
        for b, n in other.bins.items():
            self.bins[b] = self.bins.get(b, 0) + n


@dataclass(slots=True)
class Delta:
    """What one worker recorded since its last merge: EWMA inputs as (count, sum), bucket counts as they are."""

    latency_n: int = 0
    latency_sum: float = 0.0
    ttft_n: int = 0
    ttft_sum: float = 0.0
    buckets: dict[int, Bucket] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.latency_n or self.ttft_n or self.buckets)


class Stats:
    """Outcomes of one subject. ``now`` is wall-clock seconds (shared by replicas), injected by the caller."""

    __slots__ = (
        "_alpha",
        "_bucket_s",
        "_buckets",
        "_delta",
        "_floor",
        "_stale_s",
        "failures",
        "failures_by_kind",
        "in_flight",
        "in_flight_elsewhere",
        "key",
        "latency",
        "latency_at",
        "requests",
        "ttft",
        "ttft_at",
        "window_s",
        "forget_pending",
    )

    def __init__(self, key: str, *, alpha: float, window_s: float, stale_after_s: float, shared: bool = False) -> None:
        self.key = key
        self._alpha = alpha
        self.window_s = window_s
        self._bucket_s = window_s / BUCKETS
        self._stale_s = stale_after_s
        self.latency: float | None = None
        self.latency_at = 0.0
        self.ttft: float | None = None
        self.ttft_at = 0.0
        self.in_flight = 0
        self.in_flight_elsewhere = 0
        self.requests = 0  # totals since start, for metrics
        self.failures = 0
        self.failures_by_kind: dict[str, int] = {}
        self._buckets: dict[int, Bucket] = {}
        self._delta: Delta | None = Delta() if shared else None
        self._floor = -(2**62)  # buckets before this one are forgotten (``forget``)
        self.forget_pending: int | None = None  # a floor not yet sent to Redis

    # -- recording ------------------------------------------------------------------------------------------

    def record(
        self,
        now: float,
        ok: bool,
        latency: float | None = None,
        ttft: float | None = None,
        kind: str | None = None,
    ) -> None:
        index = self.bucket_index(now)
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = Bucket()
            self._prune(index)
        delta = self._delta
        dbucket = None
        if delta is not None:
            dbucket = delta.buckets.get(index)
            if dbucket is None:
                dbucket = delta.buckets[index] = Bucket()
        self.requests += 1
        if ok:
            bucket.ok += 1
            if dbucket is not None:
                dbucket.ok += 1
        else:
            bucket.failed += 1
            self.failures += 1
            if kind is not None:
                self.failures_by_kind[kind] = self.failures_by_kind.get(kind, 0) + 1
            if dbucket is not None:
                dbucket.failed += 1
        if latency is not None:
            b = latency_bin(latency)
            bucket.bins[b] = bucket.bins.get(b, 0) + 1
            if dbucket is not None:
                dbucket.bins[b] = dbucket.bins.get(b, 0) + 1
            self.latency = self._blend(self.latency, self.latency_at, latency, now)
            self.latency_at = now
            if delta is not None:
                delta.latency_n += 1
                delta.latency_sum += latency
        if ttft is not None:
            self.ttft = self._blend(self.ttft, self.ttft_at, ttft, now)
            self.ttft_at = now
            if delta is not None:
                delta.ttft_n += 1
                delta.ttft_sum += ttft

    def _blend(self, old: float | None, at: float, value: float, now: float) -> float:
        if old is None or now - at > self._stale_s:
            return value
        return self._alpha * value + (1 - self._alpha) * old

    def bucket_index(self, now: float) -> int:
        return int(now // self._bucket_s)

    def _prune(self, current: int) -> None:
        oldest = current - BUCKETS + 1
        for index in [i for i in self._buckets if i < oldest]:
            del self._buckets[index]

    # -- reading --------------------------------------------------------------------------------------------

    def forget(self, now: float) -> None:
        """Start the window afresh (a canary resumed after a rollback must not be judged on what it did before)."""
        self._floor = self.bucket_index(now)
        self._buckets = {}
        if self._delta is not None:
            self._delta.buckets = {}
            self.forget_pending = self._floor

    def _window(self, now: float) -> list[Bucket]:
        oldest = max(self.bucket_index(now) - BUCKETS + 1, self._floor)
        return [b for i, b in self._buckets.items() if i >= oldest]

    def counts(self, now: float) -> tuple[int, int]:
        """(ok, failed) over the window."""
        ok = failed = 0
        for bucket in self._window(now):
            ok += bucket.ok
            failed += bucket.failed
        return ok, failed

    def success_rate(self, now: float) -> float | None:
        ok, failed = self.counts(now)
        return ok / (ok + failed) if ok + failed else None

    def error_rate(self, now: float) -> float | None:
        rate = self.success_rate(now)
        return None if rate is None else 1.0 - rate

    def p95(self, now: float) -> float | None:
        return self.quantile(now, 0.95)

    def histogram(self, now: float) -> dict[int, int]:
        """The window's latencies: bin index → count (bins of LATENCY_BOUNDS)."""
        merged: dict[int, int] = {}
        for bucket in self._window(now):
            for b, n in bucket.bins.items():
                merged[b] = merged.get(b, 0) + n
        return merged

    def quantile(self, now: float, q: float) -> float | None:
        """The upper bound of the histogram bin holding the q-quantile of the window's latencies."""
        merged = self.histogram(now)
        total = sum(merged.values())
        if not total:
            return None
        rank = q * total
        seen = 0
        for b in sorted(merged):
            seen += merged[b]
            if seen >= rank:
                return bin_upper(b)
        return bin_upper(max(merged))

    def latency_estimate(self, now: float, stream: bool) -> float | None:
        """What a call should expect: TTFT for a stream, latency otherwise, each standing in for the other."""
        latency = self.latency if self.latency is not None and now - self.latency_at <= self._stale_s else None
        ttft = self.ttft if self.ttft is not None and now - self.ttft_at <= self._stale_s else None
        if stream:
            return ttft if ttft is not None else latency
        return latency if latency is not None else ttft

    @property
    def busy(self) -> int:
        return self.in_flight + self.in_flight_elsewhere

    # -- merging (shared.py) --------------------------------------------------------------------------------

    @property
    def shared(self) -> bool:
        return self._delta is not None

    def take_delta(self) -> Delta | None:
        delta = self._delta
        if delta is None or delta.empty():
            return None
        self._delta = Delta()
        return delta

    def restore_delta(self, delta: Delta) -> None:
        """Put back a delta whose merge failed (Redis unreachable), so nothing recorded is lost."""
        current = self._delta
        if current is None:
            return
        current.latency_n += delta.latency_n
        current.latency_sum += delta.latency_sum
        current.ttft_n += delta.ttft_n
        current.ttft_sum += delta.ttft_sum
        for index, bucket in delta.buckets.items():
            current.buckets.setdefault(index, Bucket()).add(bucket)

    def adopt(
        self,
        latency: tuple[float, float] | None,
        ttft: tuple[float, float] | None,
        buckets: dict[int, Bucket],
        in_flight_elsewhere: int,
        now: float,
    ) -> None:
        """Replace the local view with the merged one (which includes what this worker sent), then re-apply what
        was recorded while the merge was on its way."""
        if latency is not None:
            self.latency, self.latency_at = latency
        if ttft is not None:
            self.ttft, self.ttft_at = ttft
        pending = self._delta
        self._buckets = buckets
        if pending is not None:
            for index, bucket in pending.buckets.items():
                self._buckets.setdefault(index, Bucket()).add(bucket)
        self._prune(self.bucket_index(now))
        self.in_flight_elsewhere = in_flight_elsewhere

    def snapshot(self, now: float) -> dict[str, Any]:
        ok, failed = self.counts(now)
        return {
            "latency_ewma_s": _round(self.latency_estimate(now, stream=False)),
            "ttft_ewma_s": _round(self.latency_estimate(now, stream=True)),
            "success_rate": _round(self.success_rate(now)),
            "window_s": self.window_s,
            "window_ok": ok,
            "window_failed": failed,
            "p95_s": _round(self.p95(now)),
            "in_flight": self.busy,
            "requests_total": self.requests,
            "failures_total": self.failures,
            "failures_by_kind": dict(self.failures_by_kind),
        }


def _round(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else round(value, 6)
