from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.services import redis_url
from wardgate.limits.backend import LimitsBackend
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.redis import RedisLimits


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitsBackend]:
    if request.param == "memory":
        yield MemoryLimits()
        return
    client = aioredis.from_url(redis_url())
    prefix = f"wgtest-{uuid.uuid4().hex[:8]}:"
    yield RedisLimits(client, prefix)
    keys = [k async for k in client.scan_iter(match=f"*{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
