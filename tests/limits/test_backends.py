"""The limits contract, on the in-process backend and on the real Redis: the same caps either way."""

from __future__ import annotations

import asyncio

from wardgate.limits.backend import BudgetHold, LimitsBackend, RateHold, RateSettlement, Settlement


def hold(amount: int, limit: int = 100, *, hard: bool = True, key: str = "b1", **kw: float) -> BudgetHold:
    return BudgetHold(key, limit, hard, amount, 3600, int(kw.get("over", 0)), kw.get("burst_s", 0.0))


async def test_concurrent_reservations_never_pass_a_hard_cap(backend: LimitsBackend) -> None:
    decisions = await asyncio.gather(*(backend.reserve(f"r{i}", [hold(7)], [], 60) for i in range(50)))
    admitted = [d for d in decisions if d.admitted]
    assert len(admitted) == 14  # 14 × 7 = 98 ≤ 100 < 105
    state = await backend.read("b1")
    assert (state.spent, state.reserved) == (0, 98)
    denied = next(d for d in decisions if not d.admitted)
    assert (denied.denied_kind, denied.denied_index) == ("budget", 0)


async def test_settling_releases_the_hold_and_counts_the_actual(backend: LimitsBackend) -> None:
    assert (await backend.reserve("r1", [hold(60)], [], 60)).admitted
    assert not (await backend.reserve("r2", [hold(60)], [], 60)).admitted
    assert await backend.settle("r1", [Settlement("b1", 10, 3600)], []) == [10]
    assert (await backend.reserve("r3", [hold(60)], [], 60)).admitted
    state = await backend.read("b1")
    assert (state.spent, state.reserved) == (10, 60)


async def test_all_or_nothing_across_budgets(backend: LimitsBackend) -> None:
    assert (await backend.reserve("r1", [hold(90, key="a")], [], 60)).admitted
    decision = await backend.reserve("r2", [hold(5, key="b"), hold(20, key="a")], [], 60)
    assert not decision.admitted and decision.denied_index == 1
    assert (await backend.read("b")).reserved == 0  # nothing taken on the budget that had room


async def test_soft_budgets_admit_and_report(backend: LimitsBackend) -> None:
    decision = await backend.reserve("r1", [hold(150, hard=False)], [], 60)
    assert decision.admitted and decision.budgets[0].reserved == 150


async def test_a_burst_allows_a_bounded_excess(backend: LimitsBackend) -> None:
    burst = {"over": 20, "burst_s": 300.0}
    assert (await backend.reserve("r1", [hold(90, **burst)], [], 60)).admitted
    assert (await backend.reserve("r2", [hold(25, **burst)], [], 60)).admitted  # 115 ≤ 120 while bursting
    assert not (await backend.reserve("r3", [hold(10, **burst)], [], 60)).admitted


async def test_expired_holds_are_released(backend: LimitsBackend) -> None:
    assert (await backend.reserve("r1", [hold(100)], [], 0.001)).admitted
    await asyncio.sleep(0.01)  # let the hold's own deadline pass (the behaviour under test is expiry)
    assert (await backend.reserve("r2", [hold(100)], [], 60)).admitted


async def test_rpm_admits_exactly_the_limit(backend: LimitsBackend) -> None:
    rate = RateHold("rate", rpm=10, tpm=None, concurrent=None, tokens=1)
    decisions = await asyncio.gather(*(backend.reserve(f"r{i}", [], [rate], 60) for i in range(30)))
    assert sum(d.admitted for d in decisions) == 10
    refused = next(d for d in decisions if not d.admitted)
    assert refused.denied_kind == "rpm" and refused.retry_after_s is not None and refused.retry_after_s > 0
    first = next(d for d in decisions if d.admitted)
    assert first.rates[0].requests_remaining is not None


async def test_tpm_counts_reserved_tokens_and_settles_to_actual(backend: LimitsBackend) -> None:
    rate = RateHold("tok", rpm=None, tpm=100, concurrent=None, tokens=60)
    assert (await backend.reserve("r1", [], [rate], 60)).admitted
    assert not (await backend.reserve("r2", [], [rate], 60)).admitted
    await backend.settle("r1", [], [RateSettlement("tok", 60, 20, False)])
    assert (await backend.reserve("r3", [], [rate], 60)).admitted


async def test_concurrency_limit_frees_a_slot_at_settle(backend: LimitsBackend) -> None:
    rate = RateHold("cc", rpm=None, tpm=None, concurrent=2, tokens=0)
    assert (await backend.reserve("r1", [], [rate], 60)).admitted
    assert (await backend.reserve("r2", [], [rate], 60)).admitted
    assert (await backend.reserve("r3", [], [rate], 60)).denied_kind == "concurrent"
    await backend.settle("r1", [], [RateSettlement("cc", 0, 0, True)])
    assert (await backend.reserve("r4", [], [rate], 60)).admitted


async def test_token_bucket_allows_a_burst_of_its_capacity(backend: LimitsBackend) -> None:
    rate = RateHold("tb", rpm=5, tpm=None, concurrent=None, tokens=0, bucket=True)
    decisions = [await backend.reserve(f"r{i}", [], [rate], 60) for i in range(7)]
    assert [d.admitted for d in decisions] == [True] * 5 + [False] * 2


async def test_a_threshold_crossing_is_reported_once(backend: LimitsBackend) -> None:
    results = await asyncio.gather(*(backend.first_crossing("b1", 0.8, 60) for _ in range(10)))
    assert sum(results) == 1
    assert await backend.first_crossing("b1", 1.0, 60)
