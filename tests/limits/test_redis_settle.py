"""Settlements queued in one round trip are merged into one script call on the real Redis: every hold is
released, every amount spent exactly once, each caller sees its own running total (so a budget threshold crossed
inside a merged group is seen by the one settlement that crossed it), and concurrency slots are freed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import redis.asyncio as aioredis

from tests.services import redis_url
from wardgate.limits.backend import BudgetHold, BudgetState, RateHold, RateSettlement, Settlement
from wardgate.limits.redis import RedisLimits
from wardgate.limits.redis_batch import _Merged


async def test_merged_settlements_release_every_hold_and_give_running_totals() -> None:
    client = aioredis.from_url(redis_url())
    prefix = f"wgsettle-{uuid.uuid4().hex}:"
    evalshas = 0
    real = client.pipeline

    def counting(*args: Any, **kwargs: Any) -> Any:
        pipe = real(*args, **kwargs)
        execute_command = pipe.execute_command

        def count(*command: Any, **options: Any) -> Any:
            nonlocal evalshas
            evalshas += command[0] == "EVALSHA"
            return execute_command(*command, **options)

        pipe.execute_command = count  # type: ignore[method-assign]
        return pipe

    limits = RedisLimits(client, prefix)
    try:
        await limits.initialise("budget", 0, 3600)
        n = 40
        ids = [f"req-{i}" for i in range(n)]
        for rid in ids:
            decision = await limits.reserve(
                rid,
                [BudgetHold("budget", 10**12, True, 1000, 3600.0)],
                [RateHold("rate", None, 10**9, 100, 50)],
                60.0,
            )
            assert decision.admitted
        assert (await limits.read("budget")).reserved == 1000 * n
        client.pipeline = counting  # type: ignore[method-assign]
        actuals = [i + 1 for i in range(n)]  # each request spends something different
        totals = await asyncio.gather(
            *(
                limits.settle(rid, [Settlement("budget", actual, 3600.0)], [RateSettlement("rate", 50, 20, True)])
                for rid, actual in zip(ids, actuals, strict=True)
            )
        )
        assert evalshas < n  # merged: not one script call per settlement
        state = await limits.read("budget")
        assert state.spent == sum(actuals) and state.reserved == 0  # every hold released, every amount spent once
        # each caller's total is the running total in queue order (gather queues them in order)
        assert [total for (total,) in totals] == [sum(actuals[: i + 1]) for i in range(n)]
        assert await client.zcard("{" + prefix + "lim:rate}:cc") == 0  # every concurrency slot freed
        # a settlement whose hold already went (swept, or settled twice) spends but releases nothing
        again = await limits.settle(ids[0], [Settlement("budget", 5, 3600.0)], [])
        assert again == [sum(actuals) + 5] and (await limits.read("budget")).reserved == 0
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        keys += [k async for k in client.scan_iter(match="{" + prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _sum(client: aioredis.Redis, tk: str) -> int:
    value = await client.hget(tk, "s")
    assert value is not None
    return int(value)


async def test_tokens_per_minute_keep_a_running_sum_summed_again_when_the_oldest_second_leaves() -> None:
    client = aioredis.from_url(redis_url())
    prefix = f"wgtpm-{uuid.uuid4().hex}:"
    limits = RedisLimits(client, prefix)
    tk = "{" + prefix + "lim:rate}:tk"
    try:
        now = int((await client.time())[0])
        # a second long out of the window, with a stale cached sum that still counts it
        await client.hset(tk, mapping={str(now - 300): 900, "s": 900, "o": now - 300})
        hold = [RateHold("rate", None, 1000, None, 400)]
        first = await limits.reserve("a", [], hold, 60.0)
        assert first.admitted  # the stale second no longer counts
        assert await client.hexists(tk, str(now - 300)) == 0
        assert await _sum(client, tk) == 400
        second = await limits.reserve("b", [], hold, 60.0)
        assert second.admitted and await _sum(client, tk) == 800  # the running sum, no re-summing
        assert not (await limits.reserve("c", [], hold, 60.0)).admitted  # 800 + 400 > 1000
        await limits.settle("b", [], [RateSettlement("rate", 400, 100, False)])  # b used 100 of its 400
        assert await _sum(client, tk) == 500
        assert (await limits.reserve("d", [], hold, 60.0)).admitted  # 500 + 400 <= 1000
        # a sum lost (an older Wardgate's counter, or a settlement into an expired hash): summed again from seconds
        await client.hdel(tk, "s", "o")
        third = await limits.reserve("e", [], [RateHold("rate", None, 1000, None, 50)], 60.0)
        assert third.admitted and await _sum(client, tk) == 950
    finally:
        await client.delete(tk)
        await client.aclose()


async def test_a_reservation_never_queues_behind_a_settlement_in_flight() -> None:
    """While a settle-only round trip is on its way (held here until released), the next request's reservation
    still goes out and is answered."""
    client = aioredis.from_url(redis_url())
    prefix = f"wgsettle-{uuid.uuid4().hex}:"
    limits = RedisLimits(client, prefix)
    batcher = limits._calls
    real_round_trip = batcher._round_trip
    release = asyncio.Event()
    entered = asyncio.Event()

    async def held(batch: Any) -> None:
        if not any(isinstance(one, _Merged) for one in batch):
            await real_round_trip(batch)
            return
        entered.set()
        await release.wait()
        await real_round_trip(batch)

    batcher._round_trip = held  # type: ignore[method-assign]
    hold = [BudgetHold("budget", 10**12, True, 1000, 3600.0)]
    try:
        await limits.initialise("budget", 0, 3600)
        assert (await limits.reserve("first", hold, [], 60.0)).admitted
        settling = asyncio.create_task(limits.settle("first", [Settlement("budget", 7, 3600.0)], []))
        await asyncio.wait_for(entered.wait(), 10)  # sent on its own once it lingered with no reservation coming
        decision = await asyncio.wait_for(limits.reserve("second", hold, [], 60.0), 10)  # not behind the settle
        assert decision.admitted and not settling.done()
        release.set()
        assert await asyncio.wait_for(settling, 10) == [7]
        state = await limits.read("budget")
        assert state.spent == 7 and state.reserved == 1000  # the second request's hold
    finally:
        release.set()
        keys = [k async for k in client.scan_iter(match="{" + prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_settlement_rides_with_the_next_reservation() -> None:
    """One request at a time: the last request's settlement lingers and goes in the next reservation's pipeline,
    ahead of it (one round trip per request, and the reservation sees what the settlement released)."""
    client = aioredis.from_url(redis_url())
    prefix = f"wgsettle-{uuid.uuid4().hex}:"
    limits = RedisLimits(client, prefix)
    limits._calls._linger_s = 3600.0  # no timer fires during the test: only the reservation can carry it
    sent: list[list[str]] = []
    real_round_trip = limits._calls._round_trip

    async def recording(batch: Any) -> None:
        sent.append(["settle" if isinstance(one, _Merged) else "call" for one in batch])
        await real_round_trip(batch)

    limits._calls._round_trip = recording  # type: ignore[method-assign]
    # a hard budget with room for one hold at a time: the second reservation fits only once the first settled
    hold = [BudgetHold("budget", 1000, True, 600, 3600.0)]
    try:
        await limits.initialise("budget", 0, 3600)
        assert (await limits.reserve("first", hold, [], 60.0)).admitted
        settling = asyncio.create_task(limits.settle("first", [Settlement("budget", 100, 3600.0)], []))
        await asyncio.sleep(0)  # the settlement is queued, lingering
        assert not settling.done() and sent == [["call"]]
        decision = await limits.reserve("second", hold, [], 60.0)
        assert decision.admitted  # 100 spent + 600 held <= 1000: the settlement ran first
        assert sent == [["call"], ["settle", "call"]]  # one round trip carried both
        assert await settling == [100]
        assert await limits.read("budget") == BudgetState(100, 600)
    finally:
        keys = [k async for k in client.scan_iter(match="{" + prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
