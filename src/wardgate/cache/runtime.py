"""The cache's long-lived state, one per worker: both tiers, the flights, the generations, the stats and the
semantic index. It outlives pipeline rebuilds (a config reload keeps the stored answers: keys carry the route's
fingerprint, so a changed route misses on its own), and the admin API reaches it through the worker (assemble.Worker).
"""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from wardgate.cache.entry import CachedAnswer
from wardgate.cache.failure import redis_failure
from wardgate.cache.invalidation import (
    INVALIDATION_SCOPES,
    Generations,
    GenerationStore,
    InvalidationScope,
    MemoryGenerations,
    RedisGenerations,
)
from wardgate.cache.local import LocalLRU
from wardgate.cache.singleflight import SingleFlight
from wardgate.cache.stats import CacheStats, StatsGroup, report
from wardgate.config.cache import CacheConfig
from wardgate.core.errors import StoreUnavailable
from wardgate.core.outage import Outage

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from wardgate.cache.redis import RedisTier
    from wardgate.cache.semantic.embedders import Embedder
    from wardgate.cache.semantic.index import VectorIndex

log = logging.getLogger("wardgate.cache")


class ResponseCache:
    def __init__(
        self, config: CacheConfig, client: aioredis.Redis | None, prefix: str = "wg:", outage: Outage | None = None
    ) -> None:
        self.config = config
        # Redis down: the cache answers without its shared tier, and says so once per outage (not per request)
        self.outage = outage or Outage("Redis (response cache)", log, quiet_s=1.0)
        self.client = client
        self.prefix = prefix
        self.local = LocalLRU(config.local_max_bytes)
        self.redis: RedisTier | None = None
        if client is not None:
            from wardgate.cache.redis import RedisTier  # redis-py only when `redis:` is configured

            self.redis = RedisTier(client, prefix, self.outage)
        self.flights = SingleFlight()
        self.generations: GenerationStore = (
            RedisGenerations(client, prefix) if client is not None else MemoryGenerations()
        )
        self.stats = CacheStats(client, prefix, outage=self.outage)
        self.embedders: dict[str, Embedder] = {}  # "local" is kept across reloads: its model loads once
        self.redis_errors = 0
        self._vectors: VectorIndex | None = None

    def reconfigure(self, config: CacheConfig) -> None:
        self.config = config
        self.local.resize(config.local_max_bytes)

    @property
    def vectors(self) -> VectorIndex:
        """Created on first use: numpy is only needed when a model has a semantic cache."""
        if self._vectors is None:
            from wardgate.cache.semantic.index import MemoryVectorIndex, RedisVectorIndex

            per_bucket = self.config.semantic_max_per_bucket
            self._vectors = (
                RedisVectorIndex(self.client, self.prefix, per_bucket)
                if self.client is not None
                else MemoryVectorIndex(per_bucket)
            )
        return self._vectors

    def _redis_failed(self, what: str) -> None:
        self.redis_errors += 1
        self.outage.failed(sys.exc_info()[1] or RuntimeError(f"cache {what} failed"))

    async def current(self, project: str | None, model: str, template: str | None) -> Generations | None:
        """None when the counters cannot be read: no key is safe then (it might predate an invalidation)."""
        try:
            found = await self.generations.current(project, model, template)
        except redis_failure():
            self._redis_failed("generation read")
            return None
        self.outage.recovered()
        return found

    async def get(self, key: str, now: float) -> tuple[CachedAnswer, str] | None:
        """The answer and the tier it came from; a Redis hit fills the local tier."""
        answer = self.local.get(key, now)
        if answer is not None:
            return answer, "local"
        if self.redis is None:
            return None
        try:
            answer = await self.redis.get(key)
        except redis_failure():
            self._redis_failed("read")
            return None
        if answer is None or answer.stale_until <= now:
            return None
        self.local.put(key, answer)
        return answer, "redis"

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        self.local.put(key, answer)
        if self.redis is not None:
            try:
                await self.redis.put(key, answer, ttl_s)
            except redis_failure():
                self._redis_failed("write")

    async def try_lock(self, key: str) -> tuple[bool, str | None]:
        """(lead, token): lead is False when another replica is already calling upstream for ``key``."""
        if self.redis is None:
            return True, None
        try:
            token = await self.redis.try_lock(key, self.config.lock_ttl_s)
        except redis_failure():
            self._redis_failed("lock")
            return True, None
        return token is not None, token

    async def release(self, key: str, token: str) -> None:
        assert self.redis is not None
        try:
            await self.redis.release(key, token)
        except redis_failure():
            self._redis_failed("unlock")

    async def wait_for_fill(self, key: str) -> CachedAnswer | None:
        assert self.redis is not None
        try:
            return await self.redis.wait_for_fill(key, self.config.lock_ttl_s)
        except redis_failure():
            self._redis_failed("wait")
            return None

    async def close(self) -> None:
        """Stop the background tasks and write the last stats; call before closing the Redis client."""
        await self.stats.close()
        if self.redis is not None:
            await self.redis.close()


async def cache_stats(
    cache: ResponseCache,
    group_by: list[StatsGroup] | tuple[StatsGroup, ...] = ("project", "model"),
    *,
    start: date | None = None,
    end: date | None = None,
) -> list[dict[str, Any]]:
    """Hits, misses, hit rate, tokens, cost and latency saved, summed by ``group_by`` (project, model, bucket,
    day) over the days [start, end] (UTC). With Redis the figures cover every replica (each adds its counts every
    second; this one's are flushed first)."""
    try:
        return report(await cache.stats.cells(start, end), group_by)
    except redis_failure() as exc:
        cache.outage.failed(exc)
        raise StoreUnavailable("Cache statistics are unavailable right now (Redis); retry shortly.") from None


async def invalidate(cache: ResponseCache, scope: InvalidationScope, value: str | None = None) -> int:
    """Make every stored answer of ``scope`` (all | project id | model name | template name) unreachable, on every
    replica at once. Returns the scope's new generation."""
    if scope not in INVALIDATION_SCOPES:
        raise ValueError(f"cannot invalidate by {scope!r}; use {', '.join(INVALIDATION_SCOPES)}")
    try:
        return await cache.generations.bump(scope, value)
    except redis_failure() as exc:
        cache.outage.failed(exc)
        raise StoreUnavailable("The cache cannot be invalidated right now (Redis); retry shortly.") from None


_RESULTS = {"hits": "hit", "stale_hits": "stale", "misses": "miss", "bypassed": "bypass"}


def cache_metrics(cache: ResponseCache) -> list[tuple[str, dict[str, str], float]]:
    """This process's counters and gauges for Prometheus, as (metric name, labels, value)."""
    sums: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for (counter, project, model, bucket), value in cache.stats.totals.items():
        labels: tuple[tuple[str, str], ...] = (("project", project), ("model", model))
        if counter in _RESULTS:
            name, labels, amount = (
                "wardgate_cache_requests_total",
                (*labels, ("bucket", bucket), ("result", _RESULTS[counter])),
                float(value),
            )
        elif counter in ("input_tokens_saved", "output_tokens_saved"):
            name, labels, amount = (
                "wardgate_cache_tokens_saved_total",
                (*labels, ("kind", counter.split("_")[0])),
                float(value),
            )
        elif counter == "cost_saved_nanousd":
            name, amount = "wardgate_cache_cost_saved_usd_total", value / 1e9
        elif counter == "latency_saved_ms":
            name, amount = "wardgate_cache_latency_saved_seconds_total", value / 1000
        elif counter == "stored":
            name, amount = "wardgate_cache_stores_total", float(value)
        else:
            continue
        sums[(name, labels)] = sums.get((name, labels), 0.0) + amount
    out = [(name, dict(labels), value) for (name, labels), value in sorted(sums.items())]
    out.append(("wardgate_cache_coalesced_total", {}, float(cache.flights.coalesced)))
    out.append(("wardgate_cache_local_bytes", {}, float(cache.local.bytes)))
    out.append(("wardgate_cache_local_entries", {}, float(len(cache.local))))
    out.append(("wardgate_cache_local_evictions_total", {}, float(cache.local.evictions)))
    out.append(("wardgate_cache_redis_errors_total", {}, float(cache.redis_errors)))
    return out
