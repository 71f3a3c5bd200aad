from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.services import redis_url
from wardgate.limits.backend import (
    BudgetHold,
    BudgetState,
    Decision,
    LimitsBackend,
    RateHold,
    RateSettlement,
    Settlement,
)
from wardgate.limits.lease import LeasingBackend
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.redis import RedisLimits


class FreshCounters:
    """A backend whose missing counters start at 0 (an empty ledger), as the stage's rebuild would start them: the
    contract tests below are about reservations, not rebuilding."""

    def __init__(self, backend: LimitsBackend) -> None:
        self.raw = backend

    async def reserve(
        self, request_id: str, budgets: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float
    ) -> Decision:
        while True:
            decision = await self.raw.reserve(request_id, budgets, rates, hold_ttl_s)
            if decision.denied_kind != "missing":
                return decision
            hold = budgets[decision.denied_index or 0]
            await self.raw.initialise(hold.key, 0, hold.ttl_s)

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int]:
        return await self.raw.settle(request_id, budgets, rates)

    async def read(self, key: str) -> BudgetState:
        return await self.raw.read(key)

    async def first_crossing(self, key: str, threshold: float, ttl_s: float) -> bool:
        return await self.raw.first_crossing(key, threshold, ttl_s)

    async def initialise(self, key: str, spent: int, ttl_s: float) -> bool:
        return await self.raw.initialise(key, spent, ttl_s)


@pytest.fixture(params=["memory", "redis", "redis-leases"])
async def raw_backend(request: pytest.FixtureRequest) -> AsyncIterator[LimitsBackend]:
    if request.param == "memory":
        yield MemoryLimits()
        return
    client = aioredis.from_url(redis_url())
    prefix = f"wgtest-{uuid.uuid4().hex[:8]}:"
    redis_limits = RedisLimits(client, prefix)
    yield LeasingBackend(redis_limits, 32, 60.0) if request.param == "redis-leases" else redis_limits
    keys = [k async for k in client.scan_iter(match=f"*{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def backend(raw_backend: LimitsBackend) -> LimitsBackend:
    return FreshCounters(raw_backend)
