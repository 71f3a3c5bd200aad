"""Leases on the Redis counters: a worker holds several requests' worth at once and admits the requests that fit in
it without a round trip; settlements still go to Redis as each request ends (merged per round trip), so the spent
totals every replica sees stay as current as without leases.

A lease is an ordinary reservation made by one request with ``units`` > 1 (``RedisLimits.reserve``): the script
holds ``k`` times that request's amount on every budget, counts ``k`` requests (members ``<id>:1`` … ``<id>:k``) in
every sliding window and ``k`` times its tokens per minute, where ``k`` is at most ``units`` and at most 1/256 of the
room left on every counter (``LEASE_ROOM``). So leases shrink as a counter fills and are single requests near a cap:
what one worker holds unused can never make another refuse while the cap has room for more than a sliver. Nothing
is ever admitted past a cap, since everything a lease admits was held on Redis first.

A lease is returned when a request no longer fits in it, or ``lease_s`` after it was taken: its unused amounts are
released, its unused sliding-window requests removed. Requests admitted from it settle against its hold, each
releasing the part it took. A worker that dies with a lease leaves a hold that expires like any request's
(``limits.max_request_s``); its unused window requests leave the window within 60 s.

Not leased (one request at a time, as before): holds with a concurrency limit, a token bucket, or a burst
allowance.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass, field, replace

from wardgate.core.errors import StoreUnavailable
from wardgate.limits.backend import (
    BudgetHold,
    BudgetState,
    Decision,
    RateHold,
    RateSettlement,
    RateState,
    Settlement,
)
from wardgate.limits.redis import RedisLimits

log = logging.getLogger("wardgate.limits")

Signature = tuple[tuple[tuple[str, int, bool], ...], tuple[tuple[str, int | None, int | None], ...]]


@dataclass(slots=True)
class _Lease:
    id: str
    units: int
    budgets: list[BudgetHold]  # as held, per request (the amounts of the request that took the lease)
    rates: list[RateHold]
    decision: Decision  # the counters as the lease found them (for the answer's headers)
    left: list[int]  # per budget: amount not yet taken by a request
    tokens: list[int]  # per rate: tokens not yet taken
    ttl_s: list[float]
    taken: int = 0  # requests admitted from it
    released: list[int] = field(default_factory=list)  # per budget: parts released by settled requests
    spent: list[int] = field(default_factory=list)  # per budget: what they spent
    timer: asyncio.TimerHandle | None = None
    returned: bool = False

    def take(self, budgets: list[BudgetHold], rates: list[RateHold]) -> bool:
        if self.returned or self.taken >= self.units:
            return False
        if any(b.amount > left for b, left in zip(budgets, self.left, strict=True)):
            return False
        if any(r.tokens > left for r, left in zip(rates, self.tokens, strict=True)):
            return False
        for i, b in enumerate(budgets):
            self.left[i] -= b.amount
        for i, r in enumerate(rates):
            self.tokens[i] -= r.tokens
        self.taken += 1
        return True

    def state(self) -> Decision:
        """The counters for a request admitted from this lease: as Redis answered when the lease was taken, with
        what the lease has not used yet counted as remaining."""
        unused = self.units - self.taken
        rates = [
            RateState(
                requests_remaining=None if s.requests_remaining is None else s.requests_remaining + unused,
                tokens_remaining=None if s.tokens_remaining is None else s.tokens_remaining + left,
                reset_requests_s=s.reset_requests_s,
                reset_tokens_s=s.reset_tokens_s,
            )
            for s, left in zip(self.decision.rates, self.tokens, strict=True)
        ]
        budgets = [
            BudgetState(s.spent + spent, s.reserved - left - released)
            for s, left, released, spent in zip(
                self.decision.budgets, self.left, self.released, self.spent, strict=True
            )
        ]
        return Decision(True, budgets=budgets, rates=rates)


@dataclass(slots=True)
class _Taken:
    lease: _Lease
    amounts: list[int]  # per budget of the lease: what this request took


def _signature(budgets: list[BudgetHold], rates: list[RateHold]) -> Signature:
    """Requests with the same counters and limits share a lease."""
    return tuple((b.key, b.limit, b.hard) for b in budgets), tuple((r.key, r.rpm, r.tpm) for r in rates)


def leasable(budgets: list[BudgetHold], rates: list[RateHold]) -> bool:
    return all(b.burst_over == 0 for b in budgets) and all(r.concurrent is None and not r.bucket for r in rates)


class LeasingBackend:
    """``RedisLimits`` with leases (the module's docstring); the same contract, for the limits stage."""

    remote = True

    def __init__(self, inner: RedisLimits, units: int, lease_s: float) -> None:
        self.inner = inner
        self.outage = inner.outage
        self._units = units
        self._lease_s = lease_s
        self._leases: dict[Signature, _Lease] = {}
        self._fetching: dict[Signature, asyncio.Future[None]] = {}
        self._taken: dict[str, _Taken] = {}  # request id → the lease it was admitted from
        self._returns: set[asyncio.Task[None]] = set()
        self._seq = itertools.count()
        self._worker = f"{os.getpid():x}"
        self.round_trips = 0  # reservations sent to Redis (leases taken and single holds)

    async def reserve(
        self, request_id: str, budgets: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float
    ) -> Decision:
        if self.outage.down:  # Redis unreachable: no lease is trusted; the store's outage answer applies
            for stale in self._leases.values():
                stale.returned = True  # cannot be returned now: its hold expires by itself (max_request_s)
                if stale.timer is not None:
                    stale.timer.cancel()
            self._leases.clear()
        if self._units <= 1 or self.outage.down or not leasable(budgets, rates):
            self.round_trips += 1
            return await self.inner.reserve(request_id, budgets, rates, hold_ttl_s)
        sig = _signature(budgets, rates)
        while True:
            lease = self._leases.get(sig)
            if lease is not None:
                if lease.take(budgets, rates):
                    self._taken[request_id] = _Taken(lease, [b.amount for b in budgets])
                    return lease.state()
                self._return(lease)  # this request does not fit: the rest goes back, a new lease is taken
            pending = self._fetching.get(sig)
            if pending is None:
                break
            await asyncio.shield(pending)  # another request is taking the next lease: try that one first
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fetching[sig] = done
        try:
            self.round_trips += 1
            decision = await self.inner.reserve(request_id, budgets, rates, hold_ttl_s, units=self._units)
        finally:
            del self._fetching[sig]
            done.set_result(None)
        if not decision.admitted or decision.units <= 1:
            return decision  # an ordinary hold under this request's id, settled as one
        lease = _Lease(
            id=request_id,
            units=decision.units,
            budgets=budgets,
            rates=rates,
            decision=decision,
            left=[b.amount * decision.units for b in budgets],
            tokens=[r.tokens * decision.units for r in rates],
            ttl_s=[b.ttl_s for b in budgets],
            released=[0] * len(budgets),
            spent=[0] * len(budgets),
        )
        lease.take(budgets, rates)
        self._taken[request_id] = _Taken(lease, [b.amount for b in budgets])
        previous = self._leases.get(sig)
        if previous is not None:
            self._return(previous)
        self._leases[sig] = lease
        lease.timer = asyncio.get_running_loop().call_later(self._lease_s, self._return, lease)
        return lease.state()  # as one request's hold would read: the lease's unused part not counted

    def _return(self, lease: _Lease) -> None:
        """Give back what the lease did not use (a task: nobody waits on it)."""
        if lease.returned:
            return
        lease.returned = True
        if lease.timer is not None:
            lease.timer.cancel()
        sig = _signature(lease.budgets, lease.rates)
        if self._leases.get(sig) is lease:
            del self._leases[sig]
        budgets = [
            Settlement(b.key, 0, ttl, release=left)
            for b, left, ttl in zip(lease.budgets, lease.left, lease.ttl_s, strict=True)
            if left > 0
        ]
        unused = tuple(f"{lease.id}:{j}" for j in range(lease.taken + 1, lease.units + 1))
        rates = [
            RateSettlement(r.key, left, 0, False, unused=unused if r.rpm is not None else ())
            for r, left in zip(lease.rates, lease.tokens, strict=True)
        ]
        rates = [r for r in rates if r.reserved_tokens or r.unused]
        if not budgets and not rates:
            return
        task = asyncio.get_running_loop().create_task(self._send_return(lease.id, budgets, rates), name="limits-lease")
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def _send_return(self, lease_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> None:
        try:
            await self.inner.settle(lease_id, budgets, rates)
        except StoreUnavailable:  # the hold expires by itself (max_request_s), the window requests within 60 s
            log.debug("lease %s not returned: the limits store is unavailable", lease_id)

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int]:
        taken = self._taken.pop(request_id, None)
        if taken is None:
            return await self.inner.settle(request_id, budgets, rates)
        lease = taken.lease
        index = {b.key: i for i, b in enumerate(lease.budgets)}
        parts = []
        for s in budgets:
            i = index.get(s.key)
            part = 0 if i is None else taken.amounts[i]
            if i is not None:
                lease.released[i] += part
                lease.spent[i] += s.actual
            parts.append(replace(s, release=part))
        return await self.inner.settle(lease.id, parts, rates)

    async def read(self, key: str) -> BudgetState:
        return await self.inner.read(key)

    async def first_crossing(self, key: str, threshold: float, ttl_s: float) -> bool:
        return await self.inner.first_crossing(key, threshold, ttl_s)

    async def initialise(self, key: str, spent: int, ttl_s: float) -> bool:
        return await self.inner.initialise(key, spent, ttl_s)

    async def close(self) -> None:
        for lease in list(self._leases.values()):
            self._return(lease)
        if self._returns:
            await asyncio.gather(*self._returns, return_exceptions=True)
        await self.inner.close()
