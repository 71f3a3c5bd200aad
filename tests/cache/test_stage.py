"""The cache stage driven directly (no HTTP): single-flight, stale serving, and a Redis outage."""

from __future__ import annotations

import asyncio
import time
from time import perf_counter
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from wardgate.cache.entry import CachedAnswer
from wardgate.cache.keys import exact_key, tenant_of
from wardgate.cache.runtime import ResponseCache
from wardgate.cache.stage import CacheMiss, CacheStage, ModelPolicy
from wardgate.config.cache import CacheConfig
from wardgate.core.call import CacheOptions, Call, Result
from wardgate.core.errors import UpstreamError
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage

PRINCIPAL = Principal("key", "k1", project="p1")
POLICY = ModelPolicy(ttl_s=60, stale_s=600, scope="project", nondeterministic=False, route="r")
BODY: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hello"}]}
ANSWER = orjson.dumps({"id": "x", "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1}})


def new_call(control: str | None = None) -> Call:
    call = Call("id", "openai", "chat", "gpt", BODY, False, None, perf_counter())
    call.principal = PRINCIPAL
    call.cache_options = CacheOptions(control=control)
    return call


def stage_of(cache: ResponseCache) -> CacheStage:
    return CacheStage(cache, {"gpt": POLICY}, lambda call: 7)


async def answer_as_leader(stage: CacheStage, call: Call) -> None:
    call.usage = Usage(1, 2)
    await stage.after(call, Result(raw=ANSWER), None)


async def test_concurrent_misses_wait_for_the_leader_and_get_its_answer() -> None:
    stage = stage_of(cache := ResponseCache(CacheConfig(), None))
    leader = new_call()
    assert await stage.before(leader) is None
    followers = [asyncio.ensure_future(stage.before(new_call())) for _ in range(5)]
    await asyncio.sleep(0)  # one turn of the loop: each follower runs up to its wait on the flight (no I/O here)
    assert cache.flights.coalesced == 5 and not any(f.done() for f in followers)
    await answer_as_leader(stage, leader)
    results = await asyncio.gather(*followers)
    assert all(r is not None and r.raw == ANSWER for r in results)


async def test_when_the_leader_fails_the_followers_call_upstream_themselves() -> None:
    stage = stage_of(ResponseCache(CacheConfig(), None))
    leader = new_call()
    assert await stage.before(leader) is None
    follower = new_call()
    waiting = asyncio.ensure_future(stage.before(follower))
    await asyncio.sleep(0)
    await stage.after(leader, None, UpstreamError("boom"))
    assert await waiting is None and follower.cache_status == "miss"


async def test_a_stale_answer_is_served_while_another_call_refreshes_it() -> None:
    cache = ResponseCache(CacheConfig(), None)
    stage = stage_of(cache)
    gens = await cache.generations.current("p1", "gpt", None)
    key = exact_key("chat", BODY, tenant_of(PRINCIPAL, "project"), "r", gens)
    now = time.time()
    await cache.put(key, CachedAnswer(ANSWER, now - 1, now + 600, 100, 7, Usage(1, 2)), 600)
    only = new_call("only-if-cached")
    assert await stage.before(only) is not None and only.cache_status == "stale"
    refresher = new_call()
    assert await stage.before(refresher) is None and refresher.cache_status == "miss"  # the one that refreshes
    meanwhile = new_call()
    served = await stage.before(meanwhile)
    assert served is not None and served.raw == ANSWER and meanwhile.cache_status == "stale"
    assert ("x-wardgate-cache", "stale") in [(k.decode(), v.decode()) for k, v in meanwhile.response_headers]
    await answer_as_leader(stage, refresher)
    fresh = new_call()
    assert await stage.before(fresh) is not None and fresh.cache_status == "hit"


async def test_an_unreachable_redis_degrades_to_uncached_calls() -> None:
    client = aioredis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    cache = ResponseCache(CacheConfig(), client)
    stage = stage_of(cache)
    try:
        call = new_call()
        assert await stage.before(call) is None
        assert call.cache_status == "bypass" and cache.redis_errors == 1
        with pytest.raises(CacheMiss):
            await stage.before(new_call("only-if-cached"))
    finally:
        await client.aclose()
