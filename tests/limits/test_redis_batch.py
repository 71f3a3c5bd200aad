"""Concurrent Lua calls share one pipeline per round trip on the real Redis, each keeping its own result or error; a
script the server does not know yet is loaded and the call still answered; a lost connection fails every call in
the pipeline (the backend turns that into 503)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.services import redis_url
from wardgate.limits.redis_batch import ScriptBatcher

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


async def test_concurrent_calls_share_a_round_trip_and_keep_their_own_results() -> None:
    client = aioredis.from_url(redis_url())
    key = f"wgbatch-{uuid.uuid4().hex}"
    pipelines = 0
    real = client.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return real(*args, **kwargs)

    client.pipeline = counting  # type: ignore[method-assign]
    # a script text of its own: the server does not know it yet, so the first round trip meets NOSCRIPT
    script = client.register_script(INCR + f" -- {uuid.uuid4().hex}")
    failing = client.register_script("return redis.error_reply('no such thing')")
    batcher = ScriptBatcher(client)
    try:
        results = await asyncio.gather(*(batcher.call(script, [key], [1]) for _ in range(50)))
        assert sorted(results) == list(range(1, 51))  # every call ran once, and got its own answer
        assert pipelines <= 2  # not one per call
        outcomes = await asyncio.gather(
            batcher.call(script, [key], [10]), batcher.call(failing, [], []), return_exceptions=True
        )
        assert outcomes[0] == 60 and isinstance(outcomes[1], ResponseError)
    finally:
        await client.delete(key)
        await client.aclose()


async def test_a_lost_connection_fails_every_call_in_the_pipeline() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)  # nothing listens there
    script = client.register_script(INCR)
    batcher = ScriptBatcher(client)
    outcomes = await asyncio.gather(*(batcher.call(script, ["k"], [1]) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, RedisConnectionError | OSError) for o in outcomes), outcomes
    await client.aclose()


@pytest.mark.parametrize("n", [1, 300])
async def test_lone_and_oversized_batches_are_answered(n: int) -> None:
    client = aioredis.from_url(redis_url())
    key = f"wgbatch-{uuid.uuid4().hex}"
    script = client.register_script(INCR)
    batcher = ScriptBatcher(client)
    try:
        results = await asyncio.gather(*(batcher.call(script, [key], [1]) for _ in range(n)))
        assert sorted(results) == list(range(1, n + 1))
    finally:
        await client.delete(key)
        await client.aclose()
