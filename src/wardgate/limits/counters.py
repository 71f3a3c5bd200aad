"""The backend's counters kept exact: rebuilt from the ledger, paid back after an outage, waited for near a cap.

- Rebuild. A counter that is missing (a new budget, a new window, a Redis flush or eviction, a restart of the
  embedded backend) is refused by the backend as ``missing``; it is initialised from this window's spend in the
  ledger (once per key on this worker, and only-if-absent across replicas), then the reservation is retried. So no
  reservation ever counts from 0. What the ledger does not hold yet is each replica's writer queue: at most one
  ``ledger.flush_interval_s`` of spend (plus what a failing flush still retries).
- Owed. A settlement that fails (Redis down) is kept, merged per counter, and added once Redis answers again.
- Room. Near a hard cap, a request that the cap could afford but other requests' holds block waits for them to
  settle (``limits.hold_wait_s``) instead of being refused while the cap is not spent: one waiter per counter on
  each worker polls (woken at once by this worker's settlements), the others queue behind it in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from wardgate.core.errors import StoreUnavailable
from wardgate.limits.backend import BudgetHold, Decision, LimitsBackend, RateHold, RateSettlement, Settlement
from wardgate.limits.rules import BudgetRule
from wardgate.limits.windows import Window

log = logging.getLogger("wardgate.limits")

LedgerSpend = Callable[[BudgetRule, str, Window], Awaitable[int]]  # rule, counter key, window → spend in the ledger
Source = tuple[BudgetRule, str, Window]
MAX_OWED = 10_000  # counters with a settlement owed; past it the oldest is dropped (the ledger still has it)
POLL_S = 0.02  # a waiter's re-check when no settlement on this worker woke it (other replicas settle too)


class Counters:
    def __init__(self, backend: LimitsBackend, ledger: LedgerSpend | None = None) -> None:
        self.backend = backend
        self._ledger = ledger
        self._rebuilding: dict[str, asyncio.Future[None]] = {}
        self._owed: dict[str, tuple[int, float]] = {}  # counter key → (amount, ttl_s)
        self._paying: asyncio.Task[None] | None = None
        self._queues: dict[str, tuple[asyncio.Lock, int]] = {}  # one waiter polls per counter; the others queue
        self._settled: dict[str, asyncio.Event] = {}  # set when this worker settles on the counter
        self.rebuilds = 0  # counters initialised from the ledger by this worker

    async def reserve(
        self, request_id: str, holds: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float, sources: list[Source]
    ) -> Decision:
        for _ in range(len(holds) + 2):
            if self._rebuilding:  # a counter being rebuilt here: wait for it rather than be told it is missing
                for hold in holds:
                    pending = self._rebuilding.get(hold.key)
                    if pending is not None:
                        await asyncio.shield(pending)
            decision = await self.backend.reserve(request_id, holds, rates, hold_ttl_s)
            if decision.denied_kind != "missing":
                if self._owed and self._paying is None:
                    self._paying = asyncio.get_running_loop().create_task(self._pay(), name="limits-owed")
                return decision
            index = decision.denied_index or 0
            await self._rebuild(holds[index], sources[index])
        # rebuilt counters vanish at once again: Redis evicts faster than we write (maxmemory far too low)
        raise StoreUnavailable("Budget counters cannot be kept right now (the limits store evicts them); retry.")

    async def _rebuild(self, hold: BudgetHold, source: Source) -> None:
        pending = self._rebuilding.get(hold.key)
        if pending is None:
            pending = asyncio.ensure_future(self._initialise(hold, source))
            self._rebuilding[hold.key] = pending
            pending.add_done_callback(lambda _: self._rebuilding.pop(hold.key, None))
        await asyncio.shield(pending)

    async def _initialise(self, hold: BudgetHold, source: Source) -> None:
        spent = await self._ledger(*source) if self._ledger is not None else 0
        if await self.backend.initialise(hold.key, spent, hold.ttl_s):
            self.rebuilds += 1
            if spent:
                log.info("budget counter %s rebuilt from the ledger: %d spent", hold.key[:200], spent)

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int] | None:
        """The totals after settling; None when the store is down (the amounts are then owed, not lost)."""
        try:
            totals = await self.backend.settle(request_id, budgets, rates)
        except StoreUnavailable:
            for s in budgets:
                self._owe(s.key, s.actual, s.ttl_s)
            return None
        for s in budgets:
            event = self._settled.get(s.key)
            if event is not None:
                event.set()
        return totals

    def _owe(self, key: str, amount: int, ttl_s: float) -> None:
        if amount <= 0:
            return
        before, _ = self._owed.pop(key, (0, 0.0))
        self._owed[key] = (before + amount, ttl_s)
        if len(self._owed) > MAX_OWED:
            dropped = next(iter(self._owed))
            del self._owed[dropped]
            log.error("too many budget counters owed settlements; %s dropped (the ledger keeps it)", dropped[:200])

    async def _pay(self) -> None:
        owed, self._owed = self._owed, {}
        try:
            if owed:
                await self.settle("", [Settlement(k, amount, ttl) for k, (amount, ttl) in owed.items()], [])
        finally:
            self._paying = None

    async def wait_for_room(self, key: str, deadline: float, retry: Callable[[], Awaitable[bool]]) -> None:
        """Call ``retry`` each time the counter may have room, in turn with this worker's other waiters, until it
        returns True (done: admitted, or refused for good) or ``deadline`` (loop time) passes. ``retry`` itself is
        never cancelled by the deadline: a reservation cut off halfway would leave a hold nobody settles."""
        queue, waiting = self._queues.get(key) or (asyncio.Lock(), 0)
        self._queues[key] = (queue, waiting + 1)
        event = self._settled.setdefault(key, asyncio.Event())
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await queue.acquire()
            except TimeoutError:
                return
            try:
                await self._poll(event, deadline, retry)
            finally:
                queue.release()
        finally:
            left = self._queues[key][1] - 1
            if left:
                self._queues[key] = (queue, left)
            else:
                del self._queues[key]
                self._settled.pop(key, None)

    @staticmethod
    async def _poll(event: asyncio.Event, deadline: float, retry: Callable[[], Awaitable[bool]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event.clear()
            if await retry():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(POLL_S, remaining)):
                    await event.wait()

    async def drain(self) -> None:
        if self._paying is not None:
            await asyncio.gather(self._paying, return_exceptions=True)
