"""Strategies rank deployments from health, price and weight: pure, no HTTP, an injected clock and random source."""

from __future__ import annotations

import random
from collections import Counter

from tests.routing.helpers import FakeClock, new_state, target
from wardgate.routing.strategies import rank


def test_weighted_picks_follow_the_weights_over_2000_calls() -> None:
    state = new_state()
    targets = [target(state, f"p/{n}", weight=w) for n, w in (("a", 1), ("b", 3), ("c", 6))]
    rng = random.Random(7)
    picks = Counter(rank("weighted", targets, 0.0, False, rng)[0].name for _ in range(2000))
    for name, share in (("p/a", 0.1), ("p/b", 0.3), ("p/c", 0.6)):
        # 4 standard deviations of a binomial share over 2,000 draws
        tolerance = 4 * (share * (1 - share) / 2000) ** 0.5
        assert abs(picks[name] / 2000 - share) < tolerance, picks


def test_the_weighted_ranking_lists_every_deployment_once_as_fall_backs() -> None:
    state = new_state()
    targets = [target(state, f"p/{n}") for n in "abcd"]
    order = rank("weighted", targets, 0.0, False, random.Random(1))
    assert sorted(t.name for t in order) == ["p/a", "p/b", "p/c", "p/d"]


def test_lowest_latency_moves_traffic_within_two_calls_after_a_deployment_slows() -> None:
    clock = FakeClock()
    state = new_state(clock)
    fast, steady = target(state, "p/fast"), target(state, "p/steady")
    latency = {"p/fast": 0.1, "p/steady": 0.3}
    rng = random.Random(3)
    chosen: list[str] = []
    for i in range(60):
        if i == 20:
            latency["p/fast"] = 2.0  # the fast deployment slows down
        pick = rank("lowest_latency", [fast, steady], clock(), False, rng)[0]
        chosen.append(pick.name)
        pick.health.record(clock(), True, latency=latency[pick.name])
        clock.advance(0.5)
    assert set(chosen[5:20]) == {"p/fast"}  # once both are measured, the fast one gets everything
    moved = chosen.index("p/steady", 20) - 20
    assert moved <= 2, chosen[20:30]  # at most two calls see the slow-down
    assert set(chosen[20 + moved :]) == {"p/steady"}


def test_lowest_latency_probes_a_deployment_again_once_its_data_is_stale() -> None:
    clock = FakeClock()
    state = new_state(clock, health={"stale_after_s": 30})
    slow, other = target(state, "p/slow"), target(state, "p/other")
    slow.health.record(clock(), True, latency=5.0)
    other.health.record(clock(), True, latency=0.5)
    assert rank("lowest_latency", [slow, other], clock(), False, random.Random(0))[0] is other
    clock.advance(31)
    other.health.record(clock(), True, latency=0.5)
    assert rank("lowest_latency", [slow, other], clock(), False, random.Random(0))[0] is slow  # unknown again
    slow.health.record(clock(), True, latency=0.2)  # it recovered: the new value replaces the stale one
    assert slow.health.latency == 0.2
    assert rank("lowest_latency", [slow, other], clock(), False, random.Random(0))[0] is slow


def test_lowest_latency_ranks_streams_by_time_to_first_token() -> None:
    clock = FakeClock()
    state = new_state(clock)
    a, b = target(state, "p/a"), target(state, "p/b")
    a.health.record(clock(), True, latency=1.0, ttft=0.9)
    b.health.record(clock(), True, latency=3.0, ttft=0.2)
    assert rank("lowest_latency", [a, b], clock(), False, random.Random(0))[0] is a
    assert rank("lowest_latency", [a, b], clock(), True, random.Random(0))[0] is b


def test_lowest_cost_puts_the_cheapest_first_and_unpriced_last() -> None:
    state = new_state()
    dear, cheap, unknown = (
        target(state, "p/dear", price=10.0),
        target(state, "p/cheap", price=0.5),
        target(state, "p/unknown"),
    )
    order = rank("lowest_cost", [unknown, dear, cheap], 0.0, False, random.Random(0))
    assert [t.name for t in order] == ["p/cheap", "p/dear", "p/unknown"]


def test_equal_prices_share_the_calls_by_weight() -> None:
    state = new_state()
    a, b = target(state, "p/a", price=1.0, weight=1), target(state, "p/b", price=1.0, weight=3)
    rng = random.Random(11)
    picks = Counter(rank("lowest_cost", [a, b], 0.0, False, rng)[0].name for _ in range(2000))
    assert abs(picks["p/b"] / 2000 - 0.75) < 4 * (0.75 * 0.25 / 2000) ** 0.5


def test_highest_success_prefers_the_deployment_that_fails_less() -> None:
    clock = FakeClock()
    state = new_state(clock)
    flaky, solid = target(state, "p/flaky"), target(state, "p/solid")
    for i in range(10):
        flaky.health.record(clock(), i % 2 == 0, kind=None if i % 2 == 0 else "server_error")
        solid.health.record(clock(), True)
    assert rank("highest_success", [flaky, solid], clock(), False, random.Random(0))[0] is solid
    clock.advance(61)  # the failures leave the window
    assert flaky.health.success_rate(clock()) is None


def test_least_busy_prefers_fewer_calls_in_flight_relative_to_weight() -> None:
    state = new_state()
    a, b = target(state, "p/a", weight=1), target(state, "p/b", weight=4)
    a.health.in_flight, b.health.in_flight = 2, 4
    assert rank("least_busy", [a, b], 0.0, False, random.Random(0))[0] is b  # 4/4 < 2/1
    b.health.in_flight_elsewhere = 8  # other workers are busy on it
    assert rank("least_busy", [a, b], 0.0, False, random.Random(0))[0] is a


def test_a_preferred_class_comes_first_and_the_other_classes_follow() -> None:
    state = new_state()
    frontier = [target(state, f"p/f{i}", model_class="frontier") for i in range(2)]
    economy = [target(state, f"p/e{i}", model_class="economy") for i in range(2)]
    order = rank("model_class", frontier + economy, 0.0, False, random.Random(0), model_class="economy")
    assert {t.model_class for t in order[:2]} == {"economy"}
    assert {t.model_class for t in order[2:]} == {"frontier"}
