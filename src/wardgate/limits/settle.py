"""The limits stage's after step: settle each hold with the call's real usage, and report a budget threshold the
settlement crossed (once, across replicas: ``first_crossing``).

On a remote backend (Redis) the settlement goes behind the answer, in a task the shutdown waits for (``drain``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from wardgate.core.call import Call, CostOf
from wardgate.core.errors import StoreUnavailable
from wardgate.limits.backend import LimitsBackend, RateSettlement, Settlement
from wardgate.limits.counters import Counters
from wardgate.limits.reservation import MAX_AMOUNT, Notify, Reservation
from wardgate.limits.rules import WINDOW_SLACK_S, BudgetRule
from wardgate.limits.windows import Window
from wardgate.usage.estimate import ensure_usage

log = logging.getLogger("wardgate.limits")


class Settler:
    def __init__(self, backend: LimitsBackend, counters: Counters, cost_of: CostOf, notify: Notify | None) -> None:
        self.backend = backend
        self.counters = counters
        self._cost_of = cost_of
        self._notify = notify
        self._settling: set[asyncio.Task[None]] = set()

    async def settle(self, call: Call, reservation: Reservation, error: BaseException | None) -> None:
        """Settle ``call``'s holds with what it really used (a stream cut short is charged what it relayed)."""
        await ensure_usage(call)  # a stream cut short is charged what it relayed
        usage = call.usage if call.cache_status not in ("hit", "stale") else None  # a cached answer costs nothing
        tokens = min(usage.total_tokens, MAX_AMOUNT) if usage is not None else 0
        cost = min(self._cost_of(call), MAX_AMOUNT) if usage is not None else 0
        if call.fixed_cost_nanousd is not None:  # an MCP tool call: its price, once the upstream answered
            cost = call.fixed_cost_nanousd if error is None else 0
        now = datetime.now(UTC)
        settlements = [
            Settlement(key, cost if rule.in_usd else tokens, (window.end - now).total_seconds() + WINDOW_SLACK_S)
            for rule, key, window, _ in reservation.budgets
        ]
        # a rule without tpm counts no tokens at admission, so it has no correction to record either (it was an entry
        # per request in a token window nothing reads)
        rate_settlements = [
            RateSettlement(
                key, reserved, tokens if rate.config.tpm is not None else reserved, rate.config.concurrent is not None
            )
            for rate, key, reserved in reservation.rates
        ]
        if getattr(self.backend, "remote", False):
            # a network round trip: settle behind the answer instead of before it (the hold only lasts a little
            # longer, which errs on the safe side); shutdown waits for these (drain)
            task = asyncio.get_running_loop().create_task(
                self._settle(call.id, reservation, settlements, rate_settlements)
            )
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
            return
        await self._settle(call.id, reservation, settlements, rate_settlements)

    async def _settle(
        self,
        request_id: str,
        reservation: Reservation,
        settlements: list[Settlement],
        rate_settlements: list[RateSettlement],
    ) -> None:
        # the store down: the amounts are owed and added when it answers again; the holds expire (max_request_s)
        totals = await self.counters.settle(request_id, settlements, rate_settlements)
        if totals is None:
            return
        for (rule, key, window, _), settlement, total in zip(reservation.budgets, settlements, totals, strict=False):
            before = total - settlement.actual
            for threshold in rule.config.warn_at:
                mark = threshold * rule.limit
                try:
                    first = before < mark <= total and await self.backend.first_crossing(
                        key, threshold, settlement.ttl_s
                    )
                except StoreUnavailable:
                    return  # logged by the backend's outage; the next settlement past the mark reports it
                if first:
                    await self._crossed(rule, key, window, threshold, total)

    async def drain(self) -> None:
        """Wait for the settlements still in flight (shutdown)."""
        while self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)
        await self.counters.drain()

    async def _crossed(self, rule: BudgetRule, key: str, window: Window, threshold: float, total: int) -> None:
        event: dict[str, object] = {
            "type": "budget.threshold_crossed",
            "budget": rule.config.name,
            "scope": rule.config.scope,
            "counter": key,
            "threshold": threshold,
            "spent": rule.describe(total),
            "limit": rule.describe_limit(),
            "cap": rule.config.cap,
            "window_end": window.end.isoformat(),
        }
        log.warning(
            "budget %s crossed %.0f%% (%s of %s)", rule.config.name, threshold * 100, event["spent"], event["limit"]
        )
        if self._notify is not None:
            await self._notify(event)
