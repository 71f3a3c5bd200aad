"""Leases on the real Redis (limits/lease.py): far from a cap a worker admits most requests from what it already
holds, with no round trip; every amount a request spends still reaches Redis at its settlement; what a lease does not
use goes back; two workers sharing counters never admit past a hard cap, and leases shrink to single requests near
it, so the cap is spent before anyone is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.services import redis_url
from wardgate.limits.backend import BudgetHold, RateHold, RateSettlement, Settlement
from wardgate.limits.lease import LeasingBackend
from wardgate.limits.redis import RedisLimits
from wardgate.limits.redis_lua import LEASE_ROOM

TTL = 3600.0


@pytest.fixture
async def redis_client() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.from_url(redis_url())
    prefix = f"wglease-{uuid.uuid4().hex[:8]}:"
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=f"*{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def worker(client: aioredis.Redis, prefix: str, units: int = 32) -> LeasingBackend:
    return LeasingBackend(RedisLimits(client, prefix), units, lease_s=60.0)


async def window_requests(client: aioredis.Redis, prefix: str, key: str) -> int:
    return int(await client.zcard("{" + prefix + "lim:" + key + "}:rq"))


async def tokens_counted(client: aioredis.Redis, prefix: str, key: str) -> int:
    fields = await client.hgetall("{" + prefix + "lim:" + key + "}:tk")
    return sum(int(v) for f, v in fields.items() if f not in (b"s", b"o"))


async def test_far_from_caps_most_requests_take_no_round_trip_and_every_amount_is_counted(
    redis_client: tuple[aioredis.Redis, str],
) -> None:
    client, prefix = redis_client
    limits = worker(client, prefix)
    await limits.initialise("b", 0, TTL)
    n, amount, actual = 200, 1_000, 600
    for i in range(n):
        decision = await limits.reserve(
            f"r{i}", [BudgetHold("b", 10**15, True, amount, TTL)], [RateHold("k", 10**6, 10**9, None, 50)], TTL
        )
        assert decision.admitted
        # what the answer reports reads like one request's hold: the lease's unused part is not counted
        assert decision.budgets[0].reserved == amount
        totals = await limits.settle(f"r{i}", [Settlement("b", actual, TTL)], [RateSettlement("k", 50, 40, False)])
        assert totals == [actual * (i + 1)]  # spent reaches Redis at each settlement, as without leases
    assert limits.round_trips <= n // 32 + 1
    await limits.close()  # the last lease goes back
    state = await limits.read("b")
    assert (state.spent, state.reserved) == (n * actual, 0)
    assert await window_requests(client, prefix, "k") == n  # unused requests of the last lease removed
    assert await tokens_counted(client, prefix, "k") == n * 40
    assert await client.hlen("{" + prefix + "lim:b}:a") == 0
    assert await client.zcard("{" + prefix + "lim:b}:h") == 0


async def test_a_lease_is_at_most_a_sliver_of_the_room_and_single_near_a_cap(
    redis_client: tuple[aioredis.Redis, str],
) -> None:
    client, prefix = redis_client
    limits = worker(client, prefix, units=1000)
    await limits.initialise("b", 0, TTL)
    amount = 10
    room = amount * LEASE_ROOM * 5  # room for 5 x LEASE_ROOM requests: the lease may take 5 of them
    decision = await limits.reserve("first", [BudgetHold("b", room, True, amount, TTL)], [], TTL)
    assert decision.admitted
    assert (await limits.read("b")).reserved == 5 * amount
    await limits.close()
    # near the cap (room for fewer than LEASE_ROOM requests): one hold per request, one round trip each
    near = worker(client, prefix)
    await near.initialise("c", 0, TTL)
    before = near.round_trips
    for i in range(20):
        assert (await near.reserve(f"n{i}", [BudgetHold("c", amount * 100, True, amount, TTL)], [], TTL)).admitted
    assert near.round_trips - before == 20
    assert (await near.read("c")).reserved == 20 * amount


async def test_two_workers_never_pass_a_hard_cap_and_spend_it_before_refusing(
    redis_client: tuple[aioredis.Redis, str],
) -> None:
    client, prefix = redis_client
    workers = [worker(client, prefix), worker(client, prefix)]
    await workers[0].initialise("cap", 0, TTL)
    amount, cap = 100, 100 * 20_000
    admitted = 0

    async def one(w: LeasingBackend, rid: str) -> bool:
        decision = await w.reserve(rid, [BudgetHold("cap", cap, True, amount, TTL)], [], TTL)
        if decision.admitted:
            await w.settle(rid, [Settlement("cap", amount, TTL)], [])
        return decision.admitted

    refused = 0
    i = 0
    while refused == 0:
        batch = await asyncio.gather(*(one(workers[j % 2], f"x{i}-{j}") for j in range(64)))
        admitted += sum(batch)
        refused += len(batch) - sum(batch)
        i += 1
    for w in workers:
        await w.close()
    state = await workers[0].read("cap")
    assert state.spent == admitted * amount <= cap
    assert state.spent == cap  # leases were single requests near the cap: nothing was refused while it had room
    assert state.reserved == 0
    assert sum(w.round_trips for w in workers) < admitted // 4  # and most requests took no round trip


async def test_a_request_that_does_not_fit_returns_the_lease_and_takes_a_new_one(
    redis_client: tuple[aioredis.Redis, str],
) -> None:
    client, prefix = redis_client
    limits = worker(client, prefix, units=4)
    await limits.initialise("b", 0, TTL)
    small = [BudgetHold("b", 10**15, True, 10, TTL)]
    assert (await limits.reserve("a", small, [], TTL)).admitted  # a lease of 4 x 10
    big = [BudgetHold("b", 10**15, True, 1_000, TTL)]
    assert (await limits.reserve("b", big, [], TTL)).admitted  # does not fit in it: the lease goes back
    await asyncio.gather(*limits._returns)
    assert (await limits.read("b")).reserved == 10 + 4 * 1_000  # "a" still in flight, and the new lease
    await limits.settle("a", [Settlement("b", 7, TTL)], [])
    await limits.settle("b", [Settlement("b", 900, TTL)], [])
    await limits.close()
    state = await limits.read("b")
    assert (state.spent, state.reserved) == (907, 0)


async def test_concurrency_limits_and_token_buckets_are_held_one_request_at_a_time(
    redis_client: tuple[aioredis.Redis, str],
) -> None:
    client, prefix = redis_client
    limits = worker(client, prefix)
    for i in range(5):
        decision = await limits.reserve(f"c{i}", [], [RateHold("cc", None, None, 10, 0)], TTL)
        assert decision.admitted
    assert limits.round_trips == 5
    assert not (await limits.reserve("c5", [], [RateHold("cc", None, None, 5, 0)], TTL)).admitted
    for i in range(5):
        await limits.settle(f"c{i}", [], [RateSettlement("cc", 0, 0, True)])
    for i in range(3):
        assert (await limits.reserve(f"t{i}", [], [RateHold("tb", 10**6, None, None, 0, bucket=True)], TTL)).admitted
    assert limits.round_trips == 9
    await limits.close()


async def test_the_unused_part_goes_back_after_lease_s(redis_client: tuple[aioredis.Redis, str]) -> None:
    client, prefix = redis_client
    limits = LeasingBackend(RedisLimits(client, prefix), 32, lease_s=30.0)
    await limits.initialise("b", 0, TTL)
    loop = asyncio.get_running_loop()
    assert (await limits.reserve("a", [BudgetHold("b", 10**15, True, 10, TTL)], [], TTL)).admitted
    (lease,) = limits._leases.values()
    assert lease.timer is not None and 29 < lease.timer.when() - loop.time() <= 30
    lease.timer._run()  # what the loop runs once lease_s has passed (no sleeping in tests)
    await asyncio.gather(*limits._returns)
    assert (await limits.read("b")).reserved == 10  # only "a", in flight
    await limits.settle("a", [Settlement("b", 10, TTL)], [])
    assert (await limits.read("b")).reserved == 0
    await limits.close()
