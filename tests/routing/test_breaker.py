"""The circuit breaker opens on failures, refuses calls while open, lets one probe through, and recovers."""

from __future__ import annotations

from tests.routing.helpers import FakeClock, new_state
from wardgate.config.routing import BreakerConfig
from wardgate.routing.breaker import CircuitBreaker
from wardgate.routing.health import Stats


def stats() -> Stats:
    return Stats("d:x", alpha=0.3, window_s=60, stale_after_s=120)


def test_it_opens_after_n_consecutive_failures_and_recovers_through_a_probe() -> None:
    clock = FakeClock()
    health = stats()
    breaker = CircuitBreaker("p/x", BreakerConfig(failures=3, cooldown_s=30))
    for _ in range(2):
        assert breaker.allow(clock())
        breaker.on_failure(clock(), health, "server_error")
    assert breaker.state == "closed"
    assert breaker.allow(clock())
    breaker.on_failure(clock(), health, "server_error")
    assert breaker.state == "open" and breaker.opened_total == 1
    assert "3 consecutive failures" in (breaker.reason or "")
    assert not breaker.allow(clock())
    clock.advance(29.9)
    assert not breaker.allow(clock())
    clock.advance(0.2)
    assert breaker.current_state(clock()) == "half_open"
    assert breaker.allow(clock())  # the probe
    assert not breaker.allow(clock())  # one probe at a time
    breaker.on_success()
    assert breaker.state == "closed" and breaker.allow(clock())


def test_a_failed_probe_reopens_it_for_twice_as_long() -> None:
    clock = FakeClock()
    health = stats()
    breaker = CircuitBreaker("p/x", BreakerConfig(failures=1, cooldown_s=10, max_cooldown_s=15))
    breaker.on_failure(clock(), health, "timeout")
    clock.advance(10)
    assert breaker.allow(clock())
    breaker.on_failure(clock(), health, "timeout")
    assert breaker.open_until == clock() + 15  # doubled, capped at max_cooldown_s
    clock.advance(15)
    assert breaker.allow(clock())
    breaker.on_success()
    breaker.on_failure(clock(), health, "timeout")
    assert breaker.open_until == clock() + 10  # a close resets the cooldown


def test_it_opens_on_the_error_rate_over_the_window() -> None:
    clock = FakeClock()
    health = stats()
    breaker = CircuitBreaker("p/x", BreakerConfig(failures=100, error_rate=0.5, min_requests=10))
    for i in range(10):
        ok = i % 2 == 0
        health.record(clock(), ok)
        if ok:
            breaker.on_success()
        else:
            breaker.on_failure(clock(), health, "server_error")
    assert breaker.state == "open"
    assert "error rate 50%" in (breaker.reason or "")


def test_a_probe_whose_client_left_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p/x", BreakerConfig(failures=1, cooldown_s=1))
    breaker.on_failure(clock(), stats(), "timeout")
    clock.advance(1)
    assert breaker.allow(clock())
    breaker.release()
    assert breaker.allow(clock())


def test_a_retry_after_cools_the_deployment_down_without_counting_a_trip() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p/x", BreakerConfig(max_cooldown_s=60))
    breaker.cool_down(clock(), 7, "rate limited")
    assert not breaker.allow(clock())
    assert breaker.opened_total == 0
    clock.advance(7)
    assert breaker.allow(clock())
    breaker.cool_down(clock(), 3600, "rate limited")
    assert breaker.paused_until == clock() + 60  # capped at max_cooldown_s
    assert breaker.state == "closed" and breaker.open_until == 0.0  # a pause is not a trip


def test_a_pause_during_half_open_neither_doubles_the_cooldown_nor_holds_calls_back_after_it() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p/x", BreakerConfig(failures=1, cooldown_s=10, max_cooldown_s=300))
    breaker.on_failure(clock(), stats(), "server_error")
    clock.advance(10)
    assert breaker.allow(clock())  # the probe
    breaker.cool_down(clock(), 4, "rate limited")  # the probe got a 429 with Retry-After: 4
    assert not breaker.allow(clock() + 3.999)
    clock.advance(4)
    assert breaker.allow(clock())  # exactly 4 s later the next caller probes: no doubled cooldown
    breaker.on_success()
    assert breaker.state == "closed"
    for _ in range(5):  # repeated 429s: each pause as long as asked, never longer
        breaker.cool_down(clock(), 2, "rate limited")
        assert not breaker.allow(clock() + 1.999) and breaker.paused_until == clock() + 2
        clock.advance(2)
        assert breaker.allow(clock()) and breaker.allow(clock())  # closed: everyone, not one probe
    assert breaker.opened_total == 1


def test_the_routing_state_shows_the_breaker() -> None:
    clock = FakeClock()
    state = new_state(clock)
    breaker = state.breaker("p/x")
    breaker.cool_down(clock(), 5, "rate limited (Retry-After)")
    snapshot = breaker.snapshot(clock())
    assert snapshot["state"] == "open" and snapshot["open_until"] == clock() + 5
