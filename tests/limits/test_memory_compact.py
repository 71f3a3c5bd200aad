"""The in-process rate counters stay small per key (issue 15, point 2: 100,000 users keep RSS flat): a counter seen
once holds one short list, no empty deque or dict; a busy one switches to a deque past SMALL entries and counts the
same either way, and its window empties back to nothing."""

from __future__ import annotations

from collections import deque

import pytest

from wardgate.limits import memory
from wardgate.limits.backend import RateHold, RateSettlement
from wardgate.limits.memory import SMALL, MemoryLimits


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(MemoryLimits, "_now", staticmethod(c))
    return c


def rpm(key: str, limit: int) -> RateHold:
    return RateHold(key, rpm=limit, tpm=None, concurrent=None, tokens=0)


async def test_a_counter_seen_once_holds_one_short_list(clock: _Clock) -> None:
    limits = MemoryLimits()
    for i in range(1000):
        assert (
            await limits.reserve(f"q{i}", [], [rpm(f"r:per-user:u{i}", 100), rpm(f"r:per-key:k{i}", 100)], 60)
        ).admitted
        await limits.settle(f"q{i}", [], [RateSettlement(f"r:per-key:k{i}", 0, 0, False)])
    assert len(limits._rates) == 2000
    for rate in limits._rates.values():
        assert type(rate.requests) is list and len(rate.requests) == 1
        assert rate.tokens is None and rate.in_flight is None  # nothing made for what the rule does not count


async def test_a_busy_counter_counts_the_same_past_small(clock: _Clock) -> None:
    limits = MemoryLimits()
    limit = 3 * SMALL
    for i in range(limit):
        assert (await limits.reserve(f"q{i}", [], [rpm("busy", limit)], 60)).admitted
        clock.now += 0.5
    assert isinstance(limits._rates["busy"].requests, deque)
    denied = await limits.reserve("over", [], [rpm("busy", limit)], 60)
    assert (denied.admitted, denied.denied_kind) == (False, "rpm")
    assert denied.retry_after_s == pytest.approx(memory.WINDOW_S - limit * 0.5)
    clock.now += memory.WINDOW_S - limit * 0.5 + 0.25  # the first admission has left the window, and only it
    assert (await limits.reserve("again", [], [rpm("busy", limit)], 60)).admitted
    assert not (await limits.reserve("again2", [], [rpm("busy", limit)], 60)).admitted
    clock.now += memory.WINDOW_S  # everything has left: the window is empty again, then a short list
    decision = await limits.reserve("later", [], [rpm("busy", limit)], 60)
    assert decision.admitted and decision.rates[0].requests_remaining == limit - 1
    assert type(limits._rates["busy"].requests) is list


async def test_short_windows_expire_in_order(clock: _Clock) -> None:
    limits = MemoryLimits()
    for step in (0.0, 30.0, 20.0):
        clock.now += step
        assert (await limits.reserve("q", [], [rpm("few", 3)], 60)).admitted
    assert not (await limits.reserve("q", [], [rpm("few", 3)], 60)).admitted
    clock.now += 10.5  # 60.5 s after the first: it alone has left the window
    assert (await limits.reserve("q", [], [rpm("few", 3)], 60)).admitted
    assert len(limits._rates["few"].requests or ()) == 3


async def test_token_windows_past_small_keep_their_sum(clock: _Clock) -> None:
    limits = MemoryLimits()
    hold = RateHold("tok", rpm=None, tpm=4 * SMALL, concurrent=None, tokens=1)
    for i in range(4 * SMALL):
        assert (await limits.reserve(f"q{i}", [], [hold], 60)).admitted
        clock.now += 0.1
    assert isinstance(limits._rates["tok"].tokens, deque)
    assert not (await limits.reserve("over", [], [hold], 60)).admitted
    await limits.settle("q0", [], [RateSettlement("tok", 1, 0, False)])  # used none of its token: one back
    assert (await limits.reserve("fits", [], [hold], 60)).admitted
    clock.now += memory.WINDOW_S
    assert (await limits.reserve("later", [], [hold], 60)).admitted
    assert limits._rates["tok"].token_sum == 1
