"""Redis down never fails a request through the response cache or routing: the cache answers without its shared
tier, routing merges nothing and routes on its own view, and the log says so once, not once per call."""

from __future__ import annotations

import logging
import time

import pytest
import redis.asyncio as aioredis

from tests.limits.throwaway_redis import free_port
from wardgate.cache.entry import CachedAnswer
from wardgate.cache.runtime import ResponseCache
from wardgate.config.cache import CacheConfig
from wardgate.config.routing import RoutingConfig
from wardgate.routing.state import RoutingState


def dead_redis() -> aioredis.Redis:
    # a loopback port nobody listens on: every call is refused at once, like a Redis that went away
    return aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2, socket_timeout=0.2)


async def test_the_response_cache_bypasses_a_dead_redis_and_logs_it_once(caplog: pytest.LogCaptureFixture) -> None:
    client = dead_redis()
    cache = ResponseCache(CacheConfig(), client, "wgtest:")
    answer = CachedAnswer(b"{}", time.time() + 60, time.time() + 60, 1, 0, None)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(20):
                assert await cache.current("p", "m", None) is None  # no generation: nothing served from cache
                assert await cache.get("k", time.time()) is None
                await cache.put("k2", answer, 60)  # kept in the local tier only
                assert await cache.try_lock("k") == (True, None)  # lead the call ourselves
        assert (await cache.get("k2", time.time())) == (answer, "local")
        assert cache.redis_errors >= 80 and cache.outage.down
        records = [r for r in caplog.records if r.name.startswith("wardgate")]
        assert len(records) == 1 and records[0].exc_info is None
    finally:
        await cache.close()
        await client.aclose()


async def test_routing_merges_nothing_while_redis_is_down_and_logs_it_once(caplog: pytest.LogCaptureFixture) -> None:
    client = dead_redis()
    state = RoutingState(RoutingConfig(), redis=client)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(10):
                await state.sync()  # never raises: the worker routes on its own view
        assert state.sync_failures == 10 and state.outage.down
        records = [r for r in caplog.records if r.name.startswith("wardgate")]
        assert len(records) == 1 and records[0].exc_info is None
    finally:
        await client.aclose()
