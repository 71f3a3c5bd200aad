"""Health, breakers and canary decisions shared by two RoutingStates (two workers or replicas) on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from tests.routing.helpers import FakeClock, canary, target
from tests.services import redis_url
from tests.support import MASTER_KEY, gateway_from_yaml
from wardgate.config.routing import RoutingConfig
from wardgate.routing.state import RoutingState, routing_state

pytestmark = pytest.mark.redis


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    url = redis_url()
    key_prefix = f"wgtest:{uuid.uuid4().hex[:10]}:"
    yield key_prefix
    client = aioredis.from_url(url)
    keys = [k async for k in client.scan_iter(match=key_prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def clients() -> AsyncIterator[list[aioredis.Redis]]:
    made: list[aioredis.Redis] = []
    yield made
    for client in made:
        await client.aclose()


def worker(clients: list[aioredis.Redis], prefix: str, clock: FakeClock, name: str) -> RoutingState:
    client = aioredis.from_url(redis_url())
    clients.append(client)
    config = RoutingConfig.model_validate({"health": {"alpha": 0.5}, "breaker": {"failures": 3}})
    return RoutingState(config, redis=client, key_prefix=prefix, clock=clock, replica=name)


async def test_two_workers_see_each_others_outcomes_latency_and_load(
    prefix: str, clients: list[aioredis.Redis]
) -> None:
    clock = FakeClock()
    one, two = worker(clients, prefix, clock, "one"), worker(clients, prefix, clock, "two")
    a, b = one.health("p/x"), two.health("p/x")
    for _ in range(6):
        a.record(clock(), True, latency=1.0)
    for _ in range(4):
        a.record(clock(), False, kind="server_error")
    b.in_flight = 3
    for _ in range(10):
        b.record(clock(), True, latency=1.0)
    await one.sync()
    await two.sync()
    await one.sync()
    assert a.counts(clock()) == b.counts(clock()) == (16, 4)
    assert a.latency == b.latency == pytest.approx(1.0)
    assert a.busy == 3 and b.busy == 3  # two's calls in flight count on one
    clock.advance(0.5)
    b.record(clock(), True, latency=3.0)  # one observation: alpha 0.5 blends it half-way
    await two.sync()
    await one.sync()
    assert a.latency == b.latency == pytest.approx(2.0)


async def test_the_window_slides_in_redis_too(prefix: str, clients: list[aioredis.Redis]) -> None:
    clock = FakeClock()
    one, two = worker(clients, prefix, clock, "one"), worker(clients, prefix, clock, "two")
    seen = two.health("p/x")  # a worker merges the subjects its routes hold
    one.health("p/x").record(clock(), False, kind="timeout")
    await one.sync()
    await two.sync()
    assert seen.counts(clock()) == (0, 1)
    clock.advance(61)
    await two.sync()
    assert seen.counts(clock()) == (0, 0)


async def test_a_breaker_opened_by_one_worker_keeps_the_other_away(prefix: str, clients: list[aioredis.Redis]) -> None:
    clock = FakeClock()
    one, two = worker(clients, prefix, clock, "one"), worker(clients, prefix, clock, "two")
    breaker, health = one.breaker("p/x"), one.health("p/x")
    other = two.breaker("p/x")
    await two.sync()
    for _ in range(3):
        breaker.on_failure(clock(), health, "server_error")
    assert breaker.state == "open"
    assert other.allow(clock())
    await one.sync()
    await two.sync()
    assert not other.allow(clock())
    assert other.open_until == breaker.open_until
    assert other.reason == breaker.reason
    clock.advance(30)
    assert other.allow(clock())  # each worker sends its own probe once the period is over


async def test_a_rollback_on_one_worker_reaches_the_other(prefix: str, clients: list[aioredis.Redis]) -> None:
    clock = FakeClock()
    one, two = worker(clients, prefix, clock, "one"), worker(clients, prefix, clock, "two")
    first = canary(one, "m", target(one, "p/new"), 10, min_requests=3)
    second = canary(two, "m", target(two, "p/new"), 10, min_requests=3)
    await two.sync()
    for _ in range(3):  # 3 failures in 3: significant against the 5% margin (2 in 2 is not, at 0.001)
        first.record("canary", clock(), False, None, "server_error")
    assert first.status == "rolled_back"
    await one.sync()
    await two.sync()
    assert second.status == "rolled_back" and second.reason == first.reason
    assert second.arm_for("anyone") == "baseline"
    assert second.arms["canary"].counts(clock()) == (0, 3)  # the per-arm metrics are shared as well


async def test_an_unreachable_redis_keeps_the_outcomes_for_the_next_merge(
    prefix: str, clients: list[aioredis.Redis]
) -> None:
    clock = FakeClock()
    down = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    clients.append(down)
    lonely = RoutingState(RoutingConfig(), redis=down, key_prefix=prefix, clock=clock, replica="lonely")
    lonely.health("p/x").record(clock(), True, latency=0.3)
    await lonely.sync()
    assert lonely.sync_failures == 1
    assert lonely.health("p/x").counts(clock()) == (1, 0)  # still routes on its own view
    delta = lonely.health("p/x").take_delta()
    assert delta is not None and delta.latency_n == 1  # kept for the next merge


def test_a_gateway_with_redis_merges_its_routing_health(prefix: str) -> None:
    config = f"""
redis: {{url: "{redis_url()}", key_prefix: "{prefix}"}}
providers:
  one: {{type: mock}}
  two: {{type: mock}}
models:
  m:
    strategy: least_busy
    deployments: [{{provider: one, model: a}}, {{provider: two, model: b}}]
"""
    with gateway_from_yaml(config) as gw, httpx.Client() as http:
        for _ in range(4):
            response = http.post(
                gw.url + "/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {MASTER_KEY}"},
            )
            assert response.status_code == 200
        state = gw.worker.routing
        assert state.shared
        gw.run(state.sync())
        entries = {e["deployment"]: e for e in routing_state(gw.worker.routing)}
        assert sum(e["health"]["window_ok"] for e in entries.values()) == 4

        async def stored() -> list[bytes]:
            assert gw.worker.redis is not None
            return [k async for k in gw.worker.redis.scan_iter(match=prefix + "rt:h:*")]

        answered = sorted(f"{prefix}rt:h:d:{name}".encode() for name, e in entries.items() if e["health"]["window_ok"])
        assert answered and sorted(gw.run(stored())) == answered


async def test_a_retry_after_pause_reaches_the_other_worker_as_a_pause_not_a_trip(
    prefix: str, clients: list[aioredis.Redis]
) -> None:
    clock = FakeClock()
    one, two = worker(clients, prefix, clock, "one"), worker(clients, prefix, clock, "two")
    a, b = one.breaker("p/x"), two.breaker("p/x")
    a.cool_down(clock(), 7, "rate limited (Retry-After: 7s)")
    await one.sync()
    await two.sync()
    assert b.paused(clock()) and b.paused_until == clock() + 7
    assert b.current_state(clock()) == "closed" and b.opened_total == 0
    assert not b.allow(clock() + 6.9)
    clock.advance(7)
    assert b.allow(clock()) and b.allow(clock())  # over at once, for every caller: no probe, no doubling
