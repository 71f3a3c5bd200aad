"""The response cache's counters as Prometheus samples (cache.runtime.cache_metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.cache.runtime import ResponseCache, cache_metrics
from wardgate.observability.metrics import Collector, Sample


def cache_collector(cache: ResponseCache) -> Collector:
    """For ``Metrics.add``: the cache samples of this worker."""

    async def collect() -> Iterable[Sample]:
        return [
            Sample(name, labels, value, kind="counter" if name.endswith("_total") else "gauge")
            for name, labels, value in cache_metrics(cache)
        ]

    return collect
