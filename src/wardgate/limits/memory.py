"""The in-process backend (one process). Single-threaded asyncio: each method runs without an await in its critical
section, which makes it atomic."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TypeVar

from wardgate.limits.backend import (
    BudgetHold,
    BudgetState,
    Decision,
    RateHold,
    RateSettlement,
    RateState,
    Settlement,
)

WINDOW_S = 60.0
SMALL = 16  # a window holding up to this many entries is a list; past it, a deque (O(1) at the left end)

T = TypeVar("T")
Times = list[T] | deque[T]  # oldest first


@dataclass(slots=True)
class _Budget:
    spent: int = 0
    reserved: int = 0
    holds: dict[str, tuple[int, float]] = field(default_factory=dict)  # request id → (amount, expires)
    burst_until: float = 0.0
    expires: float = 0.0
    initialised: bool = False


@dataclass(slots=True)
class _Rate:
    """One counter per key, user, project… seen within a window: tens of thousands of them when every user calls,
    so each holds only what it uses. A window is None while empty and a short list until it grows past SMALL (an
    empty deque alone takes 760 bytes); ``in_flight`` is made by the first concurrency hold."""

    requests: Times[float] | None = None  # admission times (sliding window)
    tokens: Times[tuple[float, int]] | None = None
    token_sum: int = 0
    in_flight: dict[str, float] | None = None
    bucket_level: float = -1.0
    bucket_at: float = 0.0


def _pushed(times: Times[T] | None, item: T) -> Times[T]:
    if times is None:
        return [item]
    times.append(item)
    if len(times) > SMALL and isinstance(times, list):
        return deque(times)
    return times


def _requests_after(times: Times[float] | None, horizon: float) -> Times[float] | None:
    """The admission times later than ``horizon`` (None: none)."""
    if times is None:
        return None
    if isinstance(times, deque):
        while times and times[0] <= horizon:
            times.popleft()
    else:
        n = 0
        while n < len(times) and times[n] <= horizon:
            n += 1
        del times[:n]
    return times or None


class MemoryLimits:
    def __init__(self) -> None:
        self._budgets: dict[str, _Budget] = {}
        self._rates: dict[str, _Rate] = {}
        self._rates_swept_at = 0.0
        self._warned: dict[str, float] = {}

    @staticmethod
    def _now() -> float:
        return time.time()

    def _budget(self, key: str, now: float, ttl_s: float) -> _Budget:
        budget = self._budgets.get(key)
        if budget is None or budget.expires < now:
            budget = self._budgets[key] = _Budget()
            self._sweep(now)
        budget.expires = max(budget.expires, now + ttl_s)
        expired = [rid for rid, (_, exp) in budget.holds.items() if exp <= now]
        for rid in expired:
            budget.reserved -= budget.holds.pop(rid)[0]
        return budget

    def _sweep_rates(self, now: float) -> None:
        """Drop counters idle for a whole window: they hold nothing (a token bucket has refilled), and client-chosen
        scope values (end users) must not grow this map for ever."""
        self._rates_swept_at = now
        horizon = now - WINDOW_S
        idle = [
            key
            for key, r in self._rates.items()
            if not r.in_flight
            and (not r.requests or r.requests[-1] <= horizon)
            and (not r.tokens or r.tokens[-1][0] <= horizon)
            and r.bucket_at <= horizon
        ]
        for key in idle:
            del self._rates[key]

    def _sweep(self, now: float) -> None:
        if len(self._budgets) > 10_000:
            for key in [k for k, b in self._budgets.items() if b.expires < now]:
                del self._budgets[key]

    def _rate(self, key: str, now: float) -> _Rate:
        rate = self._rates.get(key)
        if rate is None:
            if len(self._rates) > 10_000 and now - self._rates_swept_at > 1.0:
                self._sweep_rates(now)
            rate = self._rates[key] = _Rate()
        horizon = now - WINDOW_S
        rate.requests = _requests_after(rate.requests, horizon)
        tokens = rate.tokens
        if tokens is not None:
            if isinstance(tokens, deque):
                while tokens and tokens[0][0] <= horizon:
                    rate.token_sum -= tokens.popleft()[1]
            else:
                n = 0
                while n < len(tokens) and tokens[n][0] <= horizon:
                    rate.token_sum -= tokens[n][1]
                    n += 1
                del tokens[:n]
            rate.tokens = tokens or None
        if rate.in_flight:
            for rid in [r for r, exp in rate.in_flight.items() if exp <= now]:
                del rate.in_flight[rid]
        return rate

    async def reserve(
        self, request_id: str, budgets: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float
    ) -> Decision:
        now = self._now()
        states: list[BudgetState] = []
        opened: list[tuple[_Budget, BudgetHold]] = []
        for i, hold in enumerate(budgets):
            budget = self._budget(hold.key, now, hold.ttl_s)
            if not budget.initialised:
                return Decision(False, i, "missing")
            cap = hold.limit
            starts_burst = False
            if hold.burst_over:
                if budget.burst_until == 0 and budget.spent + budget.reserved + hold.amount > hold.limit:
                    starts_burst = True
                if starts_burst or now < budget.burst_until:
                    cap = hold.limit + hold.burst_over
            if hold.hard and budget.spent + budget.reserved + hold.amount > cap:
                return Decision(False, i, "budget", denied_state=BudgetState(budget.spent, budget.reserved))
            opened.append((budget, hold))
            if starts_burst:
                budget.burst_until = now + hold.burst_s
        rate_states: list[RateState] = []
        rate_objs: list[tuple[_Rate, RateHold]] = []
        for i, rhold in enumerate(rates):
            rate = self._rate(rhold.key, now)
            if rhold.concurrent is not None and len(rate.in_flight or ()) >= rhold.concurrent:
                return Decision(False, i, "concurrent", retry_after_s=1.0)
            if rhold.rpm is not None:
                if rhold.bucket:
                    level = self._bucket_level(rate, rhold.rpm, now)
                    if level < 1:
                        return Decision(False, i, "rpm", retry_after_s=(1 - level) * WINDOW_S / rhold.rpm)
                elif rate.requests is not None and len(rate.requests) >= rhold.rpm:
                    return Decision(False, i, "rpm", retry_after_s=max(0.0, rate.requests[0] + WINDOW_S - now))
            if rhold.tpm is not None and rate.token_sum + rhold.tokens > rhold.tpm and (rate.token_sum > 0):
                reset = rate.tokens[0][0] + WINDOW_S - now if rate.tokens else WINDOW_S
                return Decision(False, i, "tpm", retry_after_s=max(0.0, reset))
            rate_objs.append((rate, rhold))
        # every check passed: take every hold
        for budget, hold in opened:
            budget.reserved += hold.amount
            budget.holds[request_id] = (hold.amount, now + hold_ttl_s)
            states.append(BudgetState(budget.spent, budget.reserved))
        for rate, rhold in rate_objs:
            if rhold.rpm is not None:
                if rhold.bucket:
                    rate.bucket_level -= 1
                else:
                    rate.requests = _pushed(rate.requests, now)
            if rhold.tpm is not None:
                rate.tokens = _pushed(rate.tokens, (now, rhold.tokens))
                rate.token_sum += rhold.tokens
            if rhold.concurrent is not None:
                if rate.in_flight is None:
                    rate.in_flight = {}
                rate.in_flight[request_id] = now + hold_ttl_s
            rate_states.append(
                RateState(
                    requests_remaining=None
                    if rhold.rpm is None
                    else max(0, rhold.rpm - len(rate.requests or ()))
                    if not rhold.bucket
                    else int(rate.bucket_level),
                    tokens_remaining=None if rhold.tpm is None else max(0, rhold.tpm - rate.token_sum),
                    reset_requests_s=max(0.0, rate.requests[0] + WINDOW_S - now) if rate.requests else 0.0,
                    reset_tokens_s=max(0.0, rate.tokens[0][0] + WINDOW_S - now) if rate.tokens else 0.0,
                )
            )
        return Decision(True, budgets=states, rates=rate_states)

    def _bucket_level(self, rate: _Rate, rpm: int, now: float) -> float:
        if rate.bucket_level < 0:
            rate.bucket_level, rate.bucket_at = float(rpm), now
        rate.bucket_level = min(float(rpm), rate.bucket_level + (now - rate.bucket_at) * rpm / WINDOW_S)
        rate.bucket_at = now
        return rate.bucket_level

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int]:
        now = self._now()
        totals = []
        for s in budgets:
            budget = self._budget(s.key, now, s.ttl_s)
            held = budget.holds.pop(request_id, None)
            if held is not None:
                budget.reserved -= held[0]
            budget.spent += s.actual
            totals.append(budget.spent)
        for r in rates:
            rate = self._rate(r.key, now)
            delta = r.actual_tokens - r.reserved_tokens
            if delta:
                rate.tokens = _pushed(rate.tokens, (now, delta))
                rate.token_sum += delta
            if r.concurrent and rate.in_flight:
                rate.in_flight.pop(request_id, None)
        return totals

    async def read(self, key: str) -> BudgetState:
        budget = self._budgets.get(key)
        if budget is None:
            return BudgetState(0, 0)
        return BudgetState(budget.spent, budget.reserved)

    async def first_crossing(self, key: str, threshold: float, ttl_s: float) -> bool:
        mark = f"{key}:w:{threshold}"
        now = self._now()
        if self._warned.get(mark, 0) > now:
            return False
        self._warned[mark] = now + ttl_s
        return True

    async def initialise(self, key: str, spent: int, ttl_s: float) -> bool:
        budget = self._budget(key, self._now(), ttl_s)
        if budget.initialised:
            return False
        budget.spent += spent
        budget.initialised = True
        return True

    async def close(self) -> None:
        return None
