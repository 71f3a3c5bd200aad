"""The retry / fall-back loop over scripted adapters: an injected clock and sleep, so no test waits for real."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any

import pytest

from tests.routing.helpers import (
    FakeClock,
    RecordingSleep,
    ScriptedAdapter,
    answer,
    chunk,
    make_call,
    new_state,
    route,
    target,
)
from wardgate.config.routing import BackoffConfig
from wardgate.core.call import Call, Result
from wardgate.core.errors import (
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    WardgateError,
)
from wardgate.routing.execute import Executor
from wardgate.routing.route import Route
from wardgate.routing.stage import RouterStage
from wardgate.routing.state import RoutingState


def rate_limited(retry_after: str | None = None) -> UpstreamRateLimited:
    return UpstreamRateLimited("p: slow down", headers={"retry-after": retry_after} if retry_after else {})


def header(call: Call) -> str:
    return dict(call.response_headers)[b"x-wardgate-route"].decode()


class Setup:
    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock()
        self.sleep = RecordingSleep(self.clock)
        self.state: RoutingState = new_state(self.clock, **config)
        self.adapters: dict[str, ScriptedAdapter] = {}

    def adapter(self, name: str, *script: Any, default: Any = None) -> ScriptedAdapter:
        self.adapters[name] = ScriptedAdapter(name, deque(script), default)
        return self.adapters[name]

    def executor(self, *routes: Route) -> Executor:
        return Executor({r.model: r for r in routes}, self.state, sleep=self.sleep, rng=random.Random(0))

    async def run(self, *routes: Route, call: Call | None = None) -> tuple[Call, Result]:
        call = call or make_call(routes[0].model)
        table = {r.model: r for r in routes}
        await RouterStage(table).before(call)
        return call, await self.executor(*routes)(call)


async def test_a_429_is_retried_after_its_retry_after_and_not_sooner() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", rate_limited("2")), price=1.0)
    call, result = await s.run(route("m", [a], retries=2))
    assert s.sleep.delays == [2.0]
    assert result.body["choices"][0]["message"]["content"] == "from p/a"
    assert call.route is not None and call.route.attempts == 2
    assert call.route.failed == ("p/a:rate_limit",)
    assert a.breaker.state == "closed"  # cooled down for 2 s, then the retry was its probe and succeeded


async def test_a_retry_after_given_in_milliseconds_is_honoured() -> None:
    s = Setup()
    limited = UpstreamRateLimited("p: slow down", headers={"retry-after-ms": "1500", "retry-after": "2"})
    a = target(s.state, "p/a", s.adapter("p/a", limited), price=1.0)
    await s.run(route("m", [a], retries=1))
    assert s.sleep.delays == [1.5]


async def test_a_retry_after_above_the_cap_moves_on_at_once_and_cools_the_deployment() -> None:
    s = Setup(breaker={"max_cooldown_s": 300})
    a = target(s.state, "p/a", s.adapter("p/a", rate_limited("120")), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    r = route("m", [a, b], strategy="lowest_cost", retries=3, backoff=BackoffConfig(max_retry_after_s=30))
    call, result = await s.run(r)
    assert s.sleep.delays == []
    assert result.body["choices"][0]["message"]["content"] == "from p/b"
    assert a.breaker.paused(s.clock()) and a.breaker.paused_until == s.clock() + 120
    assert a.breaker.current_state(s.clock()) == "closed"  # paused, not tripped
    assert header(call) == "strategy=lowest_cost; deployment=p/b; attempts=2; failed=p/a:rate_limit"


async def test_without_retry_after_the_backoff_doubles_with_jitter() -> None:
    s = Setup(breaker={"failures": 10})
    errors = [UpstreamError("p: boom", status=500) for _ in range(3)]
    a = target(s.state, "p/a", s.adapter("p/a", *errors), price=1.0)
    await s.run(route("m", [a], retries=3, backoff=BackoffConfig(base_s=1, max_s=3)))
    first, second, third = s.sleep.delays
    assert 0.5 <= first <= 1 and 1 <= second <= 2 and 1.5 <= third <= 3  # the third step is capped at max_s


async def test_the_deadline_stops_retries_that_would_outlast_it() -> None:
    s = Setup()
    a = target(
        s.state, "p/a", s.adapter("p/a", rate_limited("4"), rate_limited("4"), default=rate_limited("4")), price=1.0
    )
    with pytest.raises(UpstreamRateLimited):
        await s.run(route("m", [a], retries=5, deadline_s=6))
    assert s.sleep.delays == [4.0]  # a second wait of 4 s would end after the deadline


async def test_a_deadline_reached_during_an_attempt_is_a_504() -> None:
    s = Setup()

    async def never() -> None:
        await asyncio.Event().wait()

    class Hanging(ScriptedAdapter):
        async def send(self, call: Call) -> Result:
            await never()
            raise AssertionError

    a = target(s.state, "p/a", Hanging("p/a"), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    executor = s.executor(route("m", [a, b], strategy="lowest_cost", deadline_s=0.05))
    with pytest.raises(UpstreamTimeout) as caught:
        await executor(make_call("m"))
    assert caught.value.code == "deadline_exceeded"
    assert s.adapters["p/b"].calls == 0
    assert a.health.in_flight == 0


async def test_a_request_error_is_neither_retried_nor_routed_around() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", InvalidRequest("p: bad temperature", param="temperature")), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    with pytest.raises(InvalidRequest):
        await s.run(route("m", [a, b], retries=2, strategy="lowest_cost"))
    assert s.adapters["p/b"].calls == 0
    assert a.health.requests == 0  # not held against the deployment


async def test_a_failure_kind_not_listed_in_fallback_on_reaches_the_client() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", UpstreamError("p: boom", status=500)), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    with pytest.raises(UpstreamError):
        await s.run(route("m", [a, b], strategy="lowest_cost", fallback_on=frozenset({"timeout"})))
    assert s.adapters["p/b"].calls == 0


async def test_fall_back_models_follow_the_models_own_deployments() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", UpstreamUnavailable("p: refused")), price=1.0)
    b = target(s.state, "q/b", s.adapter("q/b"))
    call, result = await s.run(route("m", [a], fallbacks=("backup",)), route("backup", [b]))
    assert result.body["choices"][0]["message"]["content"] == "from q/b"
    assert call.deployment is not None and call.deployment.name == "q/b"
    assert call.route is not None and call.route.model == "backup"
    assert header(call) == "strategy=weighted; deployment=q/b; attempts=2; failed=p/a:connection; fallback=backup"


async def test_when_every_breaker_is_open_the_call_fails_fast_with_503() -> None:
    s = Setup(breaker={"failures": 1, "cooldown_s": 5})
    a, b = target(s.state, "p/a", s.adapter("p/a")), target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    a.breaker.on_failure(s.clock(), a.health, "server_error")  # tripped for 5 s
    b.breaker.cool_down(s.clock(), 9, "test")  # paused for 9 s
    with pytest.raises(WardgateError) as caught:
        await s.run(route("m", [a, b]))
    assert caught.value.status == 503 and caught.value.code == "no_healthy_deployment"
    assert caught.value.headers == {"retry-after": "5"}
    assert s.adapters["p/a"].calls == s.adapters["p/b"].calls == 0


async def test_a_429_with_retry_after_pauses_the_deployment_exactly_that_long_and_never_escalates() -> None:
    s = Setup(breaker={"failures": 3, "cooldown_s": 30})
    limited = s.adapter("p/a", *[rate_limited("7") for _ in range(10)])
    a = target(s.state, "p/a", limited)
    r = route("m", [a], deadline_s=600)  # one deployment with routing options: the router's path
    for _ in range(10):  # ten 429s in a row: each pauses it for exactly 7 s, none trips or lengthens anything
        began = s.clock()
        with pytest.raises(WardgateError) as caught:
            await s.run(r)
        assert caught.value.status == 429 and caught.value.headers.get("retry-after") == "7"
        for offset, left in ((0.0, "7"), (3.0, "4"), (6.999, "1")):
            s.clock.now = began + offset
            with pytest.raises(WardgateError) as paused:  # held back: a 429 with the wait left, not a 503
                await s.run(r)
            assert (paused.value.status, paused.value.headers.get("retry-after")) == (429, left)
        s.clock.now = began + 7.0
    assert limited.calls == 10  # every call after each pause reached the provider again
    assert a.breaker.opened_total == 0 and a.breaker.current_state(s.clock()) == "closed"


async def test_when_every_deployment_is_paused_the_call_gets_a_429_with_the_wait_left() -> None:
    s = Setup()
    a, b = target(s.state, "p/a", s.adapter("p/a")), target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    a.breaker.cool_down(s.clock(), 5, "rate limited")
    b.breaker.cool_down(s.clock(), 9, "rate limited")
    s.clock.advance(1.5)
    with pytest.raises(WardgateError) as caught:
        await s.run(route("m", [a, b]))
    assert caught.value.status == 429 and caught.value.code == "rate_limit_exceeded"
    assert caught.value.headers == {"retry-after": "4"}
    assert s.adapters["p/a"].calls == s.adapters["p/b"].calls == 0


async def test_a_content_filter_refusal_falls_back_when_configured() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", answer("", finish_reason="content_filter")), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    options: dict[str, Any] = {"strategy": "lowest_cost", "fallback_on": frozenset({"content_policy"})}
    call, result = await s.run(route("m", [a, b], **options))
    assert result.body["choices"][0]["message"]["content"] == "from p/b"
    assert call.route is not None and call.route.failed == ("p/a:content_policy",)


async def test_a_refusal_is_the_answer_when_no_one_else_answers() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a", answer("", finish_reason="content_filter")), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b", UpstreamUnavailable("p: down")), price=2.0)
    options: dict[str, Any] = {"strategy": "lowest_cost", "fallback_on": frozenset({"content_policy", "connection"})}
    _, result = await s.run(route("m", [a, b], **options))
    assert result.body["choices"][0]["finish_reason"] == "content_filter"


async def test_a_content_policy_error_is_routed_around_only_when_configured() -> None:
    s = Setup()
    refusal = InvalidRequest("p: flagged by our content management policy", code="content_filter")
    a = target(s.state, "p/a", s.adapter("p/a", refusal, refusal), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    with pytest.raises(InvalidRequest):
        await s.run(route("m", [a, b], strategy="lowest_cost"))
    _, result = await s.run(route("m", [a, b], strategy="lowest_cost", fallback_on=frozenset({"content_policy"})))
    assert result.body["choices"][0]["message"]["content"] == "from p/b"


async def collect(result: Result) -> list[str]:
    assert result.stream is not None
    out = []
    async for batch in result.stream:
        out.extend(c.data["choices"][0]["delta"]["content"] for c in batch)
    return out


async def test_a_stream_that_stalls_before_its_first_chunk_falls_back() -> None:
    s = Setup()

    async def stall() -> None:
        await asyncio.Event().wait()

    a = target(s.state, "p/a", s.adapter("p/a", [stall]), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    call = make_call("m", stream=True)
    call, result = await s.run(route("m", [a, b], strategy="lowest_cost", first_chunk_timeout_s=0.05), call=call)
    assert await collect(result) == ["from p/b", "!"]
    assert call.route is not None and call.route.failed == ("p/a:stall",)
    assert a.health.failures_by_kind == {"stall": 1} and a.health.in_flight == 0
    assert b.health.ttft is not None and b.health.in_flight == 0


async def test_an_error_before_the_first_chunk_falls_back_but_after_it_ends_the_stream() -> None:
    s = Setup()
    script = ([UpstreamUnavailable("p: reset")], [chunk("one"), UpstreamUnavailable("p: reset")])
    a = target(s.state, "p/a", s.adapter("p/a", *script), price=1.0)
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    r = route("m", [a, b], strategy="lowest_cost")
    _, result = await s.run(r, call=make_call("m", stream=True))
    assert await collect(result) == ["from p/b", "!"]
    _, result = await s.run(r, call=make_call("m", stream=True))
    received: list[str] = []
    with pytest.raises(UpstreamUnavailable):
        assert result.stream is not None
        async for batch in result.stream:
            received.extend(c.data["choices"][0]["delta"]["content"] for c in batch)
    assert received == ["one"]
    assert s.adapters["p/b"].calls == 1  # only the first call fell back
    assert a.health.failures == 2 and a.health.in_flight == 0


async def test_a_model_with_one_deployment_goes_straight_to_its_adapter() -> None:
    s = Setup()
    a = target(s.state, "p/a", s.adapter("p/a"), price=1.0)
    r = route("m", [a])
    assert r.single is not None
    call, result = await s.run(r)
    assert result.body["choices"][0]["message"]["content"] == "from p/a"
    assert header(call) == "strategy=single; deployment=p/a; attempts=1"
    assert call.route is r.single.decision
    assert a.health.requests == 0  # no routing decision, no health kept


async def test_health_and_breaker_follow_the_outcomes() -> None:
    s = Setup(breaker={"failures": 2, "cooldown_s": 10})
    a = target(
        s.state,
        "p/a",
        s.adapter("p/a", UpstreamError("p: x", status=502), UpstreamError("p: x", status=502)),
        price=1.0,
    )
    b = target(s.state, "p/b", s.adapter("p/b"), price=2.0)
    r = route("m", [a, b], strategy="lowest_cost")
    for _ in range(3):
        await s.run(r)
    assert a.breaker.state == "open" and s.adapters["p/a"].calls == 2  # the third call skipped it
    assert a.health.failures_by_kind == {"server_error": 2}
    assert b.health.requests == 3 and b.health.latency is not None
    s.clock.advance(10)
    await s.run(r)  # the probe succeeds
    assert a.breaker.state == "closed"
