"""Canaries: a sticky slice per user, per-arm metrics, automatic rollback, promotion by one call."""

from __future__ import annotations

import random

from tests.routing.helpers import (
    FakeClock,
    RecordingSleep,
    ScriptedAdapter,
    canary,
    make_call,
    new_state,
    route,
    target,
)
from wardgate.core.errors import UpstreamError
from wardgate.routing.execute import Executor
from wardgate.routing.metrics import samples
from wardgate.routing.stage import RouterStage


def test_a_user_stays_in_or_out_of_the_slice_and_the_slice_has_the_configured_size() -> None:
    one, other = new_state(), new_state()  # two workers (or replicas) decide alike: the slice is a hash
    first = canary(one, "m", target(one, "p/new"), 5)
    second = canary(other, "m", target(other, "p/new"), 5)
    users = [f"user-{i}" for i in range(2000)]
    arms = [first.arm_for(u) for u in users]
    assert arms == [first.arm_for(u) for u in users] == [second.arm_for(u) for u in users]
    share = arms.count("canary") / len(users)
    assert abs(share - 0.05) < 4 * (0.05 * 0.95 / 2000) ** 0.5


def test_each_canary_draws_its_own_slice() -> None:
    state = new_state()
    a = canary(state, "m", target(state, "p/new-a"), 50)
    b = canary(state, "m", target(state, "p/new-b"), 50)
    users = [f"user-{i}" for i in range(200)]
    assert [a.arm_for(u) for u in users] != [b.arm_for(u) for u in users]


def test_a_call_in_the_slice_tries_the_candidate_first_and_the_baseline_after() -> None:
    state = new_state()
    base, new = target(state, "p/base"), target(state, "p/new")
    r = route("m", [base], canary=canary(state, "m", new, 50))
    users = [f"user-{i}" for i in range(40)]
    for user in users:
        call = make_call("m", user=user)
        order = r.choose(call, 0.0, random.Random(0)).order
        expected = [new, base] if r.canary is not None and r.canary.arm_for(user) == "canary" else [base]
        assert order == expected


async def test_an_error_spike_on_the_canary_rolls_it_back_and_its_users_still_get_answers() -> None:
    clock = FakeClock()
    state = new_state(clock)
    failing = ScriptedAdapter("p/new", default=UpstreamError("p: boom", status=500))
    base = target(state, "p/base", ScriptedAdapter("p/base"))
    new = target(state, "p/new", failing)
    c = canary(state, "m", new, 30, min_requests=5, error_rate_margin=0.05)
    r = route("m", [base], canary=c)
    executor = Executor({"m": r}, state, sleep=RecordingSleep(clock), rng=random.Random(0))
    served = []
    for i in range(200):
        call = make_call("m", user=f"user-{i}")
        await RouterStage({"m": r}).before(call)
        result = await executor(call)
        served.append(result.body["choices"][0]["message"]["content"])
        clock.advance(0.1)
    assert set(served) == {"from p/base"}  # a failed canary attempt fell back to the baseline
    assert c.status == "rolled_back"
    assert c.reason is not None and c.reason.startswith("error rate 100.0% vs baseline 0.0%")
    assert failing.calls == 5  # rolled back at the fifth failure, and never called again
    assert c.arms["canary"].counts(clock()) == (0, 5)
    assert c.arms["baseline"].counts(clock())[0] == 200


def test_a_slower_canary_is_rolled_back_on_p95_once_each_arm_has_enough_latencies() -> None:
    clock = FakeClock()
    state = new_state(clock)
    c = canary(state, "m", target(state, "p/new"), 10, min_requests=20, p95_margin=0.5, latency_min_samples=30)
    for _ in range(50):
        c.record("baseline", clock(), True, 0.2, None)
    for _ in range(29):
        c.record("canary", clock(), True, 0.5, None)
    assert c.status == "active"  # not judged on fewer than latency_min_samples latencies
    c.record("canary", clock(), True, 0.5, None)
    assert c.status == "rolled_back"
    assert c.reason is not None and c.reason.startswith("p95 latency")
    assert "30 of 30 calls above" in c.reason


def test_a_p95_from_a_handful_of_samples_never_rolls_a_canary_back() -> None:
    clock = FakeClock()
    state = new_state(clock)
    c = canary(state, "m", target(state, "p/new"), 10, min_requests=5, p95_margin=0.5)
    for _ in range(50):
        c.record("baseline", clock(), True, 0.2, None)
    for latency in (0.2, 0.2, 0.2, 0.2, 0.9):  # one slow call among five: a p95 of 0.9 s
        c.record("canary", clock(), True, latency, None)
    assert c.arms["canary"].p95(clock()) is not None and c.arms["canary"].p95(clock()) > 0.3  # type: ignore[operator]
    assert c.status == "active"


def test_a_few_slow_calls_of_an_equal_canary_are_not_significant() -> None:
    clock = FakeClock()
    state = new_state(clock)
    c = canary(state, "m", target(state, "p/new"), 10, min_requests=20, p95_margin=0.5, latency_min_samples=50)
    for i in range(200):
        c.record("baseline", clock(), True, 1.0 if i % 25 == 0 else 0.2, None)  # 4% slow
    for i in range(60):
        c.record("canary", clock(), True, 1.0 if i % 12 == 0 else 0.2, None)  # 5 of 60 slow: p95 is 1.0 s
    assert c.arms["canary"].p95(clock()) == c.arms["baseline"].p95(clock()) or c.status == "active"
    assert c.status == "active"


def test_a_canary_within_the_margins_stays() -> None:
    clock = FakeClock()
    state = new_state(clock)
    c = canary(state, "m", target(state, "p/new"), 10, min_requests=20, error_rate_margin=0.05)
    for i in range(100):
        c.record("baseline", clock(), i % 20 != 19, 0.2, None)  # 5% errors
    for i in range(48):
        c.record("canary", clock(), i % 12 != 11, 0.22, None)  # at most 8.3% errors: within 5% + 5 points
    assert c.status == "active"
    assert c.verdict(clock()) is None


async def test_promotion_sends_every_call_to_the_candidate_and_resume_judges_it_afresh() -> None:
    clock = FakeClock()
    state = new_state(clock)
    base, new = target(state, "p/base"), target(state, "p/new")
    c = canary(state, "m", new, 1, min_requests=3)
    r = route("m", [base], canary=c)
    state.attach({"m": r})
    snapshot = await state.set_canary("m", "promoted", "promoted by an operator")
    assert snapshot["status"] == "promoted"
    assert all(
        r.choose(make_call("m", user=f"u{i}"), clock(), random.Random(0)).order == [new, base] for i in range(50)
    )
    await state.set_canary("m", "rolled_back", "rolled back by an operator")
    assert all(r.choose(make_call("m", user=f"u{i}"), clock(), random.Random(0)).order == [base] for i in range(50))
    for _ in range(3):
        c.record("canary", clock(), False, None, "server_error")
    await state.set_canary("m", "active", "resumed by an operator")
    assert c.arms["canary"].counts(clock()) == (0, 0)  # what it did before does not count against it
    c.record("canary", clock(), True, 0.1, None)
    assert c.status == "active"


def test_the_routing_state_reports_the_canary_on_its_deployment() -> None:
    clock = FakeClock()
    state = new_state(clock)
    base, new = target(state, "p/base"), target(state, "p/new")
    state.attach({"m": route("m", [base], canary=canary(state, "m", new, 5))})
    entries = {e["deployment"]: e for e in state.snapshot()}
    assert entries["p/base"]["canary"] is None and entries["p/base"]["models"] == ["m"]
    assert entries["p/new"]["canary"]["status"] == "active"
    assert set(entries["p/new"]["canary"]["arms"]) == {"canary", "baseline"}
    assert entries["p/new"]["breaker"]["state"] == "closed"


async def test_metrics_report_routes_deployments_breakers_and_canary_arms() -> None:
    clock = FakeClock()
    state = new_state(clock)
    base = target(state, "p/base", ScriptedAdapter("p/base"))
    new = target(state, "p/new", ScriptedAdapter("p/new", default=UpstreamError("p: boom", status=500)))
    r = route("m", [base], canary=canary(state, "m", new, 100, min_requests=50))
    state.attach({"m": r})
    executor = Executor({"m": r}, state, sleep=RecordingSleep(clock), rng=random.Random(0))
    for i in range(3):
        await executor(make_call("m", user=f"u{i}"))
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples(state)}
    assert values[("wardgate_route_calls_total", (("model", "m"),))] == 3
    assert values[("wardgate_route_fallbacks_total", (("model", "m"),))] == 3
    new_labels = (("deployment", "p/new"), ("provider", "p"))
    assert (
        values[("wardgate_deployment_failures_total", (*new_labels[:1], ("kind", "server_error"), new_labels[1]))] == 3
    )
    assert values[("wardgate_breaker_state", new_labels)] == 0
    arm = (("arm", "canary"), ("deployment", "p/new"), ("model", "m"))
    assert values[("wardgate_canary_window_errors", arm)] == 3
    assert values[("wardgate_canary_status", (("deployment", "p/new"), ("model", "m")))] == 0
