"""Budget counters stay exact: a missing counter (new budget or window, Redis flush or eviction) is rebuilt from the
ledger before anything is reserved on it, atomically across workers; a Redis outage is a 503, not a 500, and what
was settled during it is paid back."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from tests.limits.throwaway_redis import ThrowawayRedis
from tests.services import redis_url
from wardgate.config.limits import BudgetConfig
from wardgate.core.errors import StoreUnavailable
from wardgate.limits.backend import BudgetHold, LimitsBackend, Settlement
from wardgate.limits.counters import Counters, Source
from wardgate.limits.redis import RedisLimits
from wardgate.limits.rules import BudgetRule
from wardgate.limits.windows import Window


def rule(limit_tokens: int = 1000) -> BudgetRule:
    return BudgetRule.of(BudgetConfig(name="b", scope="global", window="day", limit_tokens=limit_tokens))


def source(key: str) -> Source:
    r = rule()
    window = r.window(datetime.now(UTC), ZoneInfo("UTC"))
    assert window is not None
    return (r, key, window)


class Ledger:
    """The ledger's spend for a counter, as `limits.build.ledger_spend` reads it; counts how often it is read."""

    def __init__(self, spent: int) -> None:
        self.spent = spent
        self.reads = 0

    async def __call__(self, rule: BudgetRule, key: str, window: Window) -> int:
        self.reads += 1
        await asyncio.sleep(0)  # a real query yields: let the concurrent reservations pile up on the rebuild
        return self.spent


def hold(key: str, amount: int = 10, limit: int = 1000) -> BudgetHold:
    return BudgetHold(key, limit, True, amount, 3600)


async def test_a_missing_counter_is_refused_as_missing_until_initialised(raw_backend: LimitsBackend) -> None:
    decision = await raw_backend.reserve("r1", [hold("m")], [], 60)
    assert not decision.admitted and decision.denied_kind == "missing"
    assert await raw_backend.initialise("m", 995, 3600)
    assert not await raw_backend.initialise("m", 0, 3600)  # only the first initialisation counts
    assert (await raw_backend.read("m")).spent == 995
    assert not (await raw_backend.reserve("r2", [hold("m")], [], 60)).admitted  # 995 + 10 > 1000


async def test_concurrent_reservations_on_a_missing_counter_start_from_the_ledger_not_from_zero(
    raw_backend: LimitsBackend,
) -> None:
    ledger = Ledger(spent=900)
    counters = Counters(raw_backend, ledger)
    key = "fresh"
    decisions = await asyncio.gather(
        *(counters.reserve(f"r{i}", [hold(key)], [], 60, [source(key)]) for i in range(50))
    )
    assert sum(d.admitted for d in decisions) == 10  # (1000 - 900) / 10, not 100 from an empty counter
    assert ledger.reads == 1  # one rebuild per counter on a worker, however many requests wait for it


async def test_two_workers_rebuilding_at_once_keep_one_initial_value() -> None:
    client = aioredis.from_url(redis_url())
    prefix = f"wgtest-{uuid.uuid4().hex[:8]}:"
    try:
        workers = [Counters(RedisLimits(client, prefix), Ledger(spent=900)) for _ in range(2)]
        decisions = await asyncio.gather(
            *(
                w.reserve(f"r{i}-{n}", [hold("k")], [], 60, [source("k")])
                for n, w in enumerate(workers)
                for i in range(30)
            )
        )
        assert sum(d.admitted for d in decisions) == 10
        assert (await workers[0].backend.read("k")).spent == 900
    finally:
        keys = [k async for k in client.scan_iter(match=f"*{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_settlements_on_a_flushed_counter_are_kept_when_it_is_rebuilt(raw_backend: LimitsBackend) -> None:
    # a call admitted before the flush settles after it: its spend is added to the ledger's, never dropped
    await raw_backend.settle("r-before-flush", [Settlement("k", 30, 3600)], [])
    assert await raw_backend.initialise("k", 500, 3600)
    assert (await raw_backend.read("k")).spent == 530


async def test_redis_down_is_a_503_with_retry_after_logged_once_and_owed_spend_is_paid_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ThrowawayRedis(tmp_path)
    server.start()
    client = aioredis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    backend = RedisLimits(client, "wgtest:")
    counters = Counters(backend, Ledger(spent=0))
    try:
        assert (await counters.reserve("r1", [hold("k", limit=10_000)], [], 60, [source("k")])).admitted
        server.stop()
        with caplog.at_level(logging.INFO, logger="wardgate.limits"):
            for i in range(20):
                with pytest.raises(StoreUnavailable) as caught:
                    await counters.reserve(f"down{i}", [hold("k", limit=10_000)], [], 60, [source("k")])
                assert caught.value.status == 503 and caught.value.headers["retry-after"] == "1"
            # r1 finishes during the outage: its spend is owed, not lost
            assert await counters.settle("r1", [Settlement("k", 7, 3600)], []) is None
            server.start()  # an empty Redis, as after a restart without persistence
            backend.outage.quiet_s = 0  # (the quiet period is about flapping pools, not this test)
            decision = await counters.reserve("r2", [hold("k", limit=10_000)], [], 60, [source("k")])
            assert decision.admitted
            await counters.drain()
        assert (await backend.read("k")).spent == 7
        lines = [r for r in caplog.records if "Redis" in r.getMessage()]
        assert [r.levelname for r in lines] == ["ERROR", "WARNING"]  # one line down, one line up
        assert not any(r.exc_info for r in caplog.records)
    finally:
        await client.aclose()
        server.stop()


async def test_an_exhausted_redis_pool_is_a_503_not_a_500() -> None:
    pool = aioredis.BlockingConnectionPool.from_url(redis_url(), max_connections=1, timeout=0.05)
    client = aioredis.Redis.from_pool(pool)
    backend = RedisLimits(client, f"wgtest-{uuid.uuid4().hex[:8]}:")
    held = await pool.get_connection()  # a burst holds the only connection
    try:
        with pytest.raises(StoreUnavailable):
            await backend.reserve("r1", [hold("k")], [], 60)
    finally:
        await pool.release(held)
        await client.aclose()
