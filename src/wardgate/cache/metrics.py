"""The response cache's counters as Prometheus samples (cache.runtime.cache_metrics)."""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.cache.runtime import ResponseCache, cache_metrics
from wardgate.observability.metrics import Collector, Sample

_HELP = {
    "wardgate_cache_requests_total": "cache lookups by result",
    "wardgate_cache_tokens_saved_total": "tokens not sent upstream thanks to a hit",
    "wardgate_cache_cost_saved_usd_total": "spend saved by hits",
    "wardgate_cache_latency_saved_seconds_total": "upstream time saved by hits",
    "wardgate_cache_stores_total": "answers stored",
    "wardgate_cache_coalesced_total": "calls that waited for an identical call in flight",
    "wardgate_cache_local_bytes": "bytes held by the in-process tier",
    "wardgate_cache_local_entries": "entries held by the in-process tier",
    "wardgate_cache_local_evictions_total": "entries evicted from the in-process tier",
    "wardgate_cache_redis_errors_total": "failed Redis operations of the cache",
}


def cache_collector(cache: ResponseCache) -> Collector:
    """For ``Metrics.add``: the cache samples of this worker."""

    async def collect() -> Iterable[Sample]:
        return [
            Sample(name, labels, value, _HELP.get(name, ""), "counter" if name.endswith("_total") else "gauge")
            for name, labels, value in cache_metrics(cache)
        ]

    return collect
