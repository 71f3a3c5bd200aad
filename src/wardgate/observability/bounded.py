"""Counters and histograms whose label sets are capped: the series of one metric never exceed ``max_series`` + 1.

A metric keeps at most ``max_series`` distinct label sets; an observation with a new label set past that is counted
in one series whose every label is ``other``. So junk model names or 100k users can never grow a worker's memory or a
Prometheus server's series count without bound, whatever the callers put in labels (callers still keep client values
out of labels: see telemetry/metrics.py). Updating a series is a dict lookup and a float add: no lock (one event
loop per worker), no allocation once the series exists.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from wardgate.observability.metrics import Sample

OTHER = "other"


class CappedFamily:
    """One metric: its name, help, label names and its series, capped at ``max_series``."""

    __slots__ = ("help", "kind", "label_names", "max_series", "name", "overflowed", "series", "_other")

    def __init__(self, name: str, help: str, label_names: Sequence[str], max_series: int, kind: str) -> None:
        self.name = name
        self.help = help
        self.kind = kind
        self.label_names = tuple(label_names)
        self.max_series = max_series
        self.series: dict[tuple[str, ...], list[float]] = {}
        self._other = tuple(OTHER for _ in self.label_names)
        self.overflowed = 0  # observations counted in the `other` series because the cap was reached

    def _slot(self, values: tuple[str, ...], width: int) -> list[float]:
        slot = self.series.get(values)
        if slot is None:
            if len(self.series) >= self.max_series and values != self._other:
                self.overflowed += 1
                values = self._other
                slot = self.series.get(values)
                if slot is not None:
                    return slot
            slot = self.series[values] = [0.0] * width
        return slot

    def labels_of(self, values: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self.label_names, values, strict=True))


class CappedCounter(CappedFamily):
    """``scale`` multiplies the count when rendered: count integer nano-dollars (exact), show USD."""

    __slots__ = ("scale",)

    def __init__(self, name: str, help: str, label_names: Sequence[str], max_series: int, scale: float = 1.0) -> None:
        assert name.endswith("_total"), "a Prometheus counter's name ends in _total"
        super().__init__(name, help, label_names, max_series, "counter")
        self.scale = scale

    def inc(self, values: tuple[str, ...], amount: float = 1.0) -> None:
        self._slot(values, 1)[0] += amount

    def slot(self, values: tuple[str, ...]) -> list[float]:
        """The list ``inc`` adds to for ``values`` (its series made if new; the `other` series past the cap)."""
        return self._slot(values, 1)

    def samples(self) -> list[Sample]:
        scale = self.scale
        return [
            Sample(self.name, self.labels_of(k), v[0] * scale, self.help, "counter") for k, v in self.series.items()
        ]


class CappedHistogram(CappedFamily):
    """A Prometheus histogram: per series, one count per bucket (not cumulative until rendered), the sum, the count."""

    __slots__ = ("buckets",)

    def __init__(
        self, name: str, help: str, label_names: Sequence[str], max_series: int, buckets: Sequence[float]
    ) -> None:
        super().__init__(name, help, label_names, max_series, "histogram")
        self.buckets = tuple(float(b) for b in buckets)
        assert list(self.buckets) == sorted(set(self.buckets)), "buckets strictly increase"

    def slot(self, values: tuple[str, ...]) -> list[float]:
        """The list ``observe`` updates for ``values`` (its series made if new; the `other` series past the cap)."""
        return self._slot(values, len(self.buckets) + 3)  # buckets, +Inf, sum, count

    def observe(self, values: tuple[str, ...], value: float) -> None:
        slot = self._slot(values, len(self.buckets) + 3)  # buckets, +Inf, sum, count
        slot[bisect_left(self.buckets, value)] += 1  # `le` is inclusive: a value equal to a bound is in its bucket
        slot[-2] += value
        slot[-1] += 1

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        bounds = [*(f"{b:g}" for b in self.buckets), "+Inf"]
        name, text, kind = self.name, self.help, "histogram"
        for key, slot in self.series.items():
            labels = self.labels_of(key)
            running = 0.0
            for bound, n in zip(bounds, slot, strict=False):
                running += n
                out.append(Sample(f"{name}_bucket", {**labels, "le": bound}, running, text, kind, name))
            out.append(Sample(f"{name}_sum", labels, slot[-2], text, kind, name))
            out.append(Sample(f"{name}_count", labels, slot[-1], text, kind, name))
        return out
