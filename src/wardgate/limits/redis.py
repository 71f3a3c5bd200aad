"""The Redis backend: the same contract as memory.py, for many processes and replicas (one Lua call per step;
concurrent calls share one pipeline per round trip, limits/redis_batch.py).

Redis down, slow, or its pool exhausted: every method raises ``StoreUnavailable`` (503 + retry-after) and the
outage is logged once when it starts and once when it ends, never a traceback per request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wardgate.core.errors import StoreUnavailable
from wardgate.core.outage import Outage
from wardgate.limits.backend import (
    BudgetHold,
    BudgetState,
    Decision,
    DenyKind,
    RateHold,
    RateSettlement,
    RateState,
    Settlement,
)
from wardgate.limits.redis_batch import ScriptBatcher
from wardgate.limits.redis_lua import INIT, RESERVE, SETTLE_MANY
from wardgate.limits.redis_settle import MergedSettles, SettleItem

log = logging.getLogger("wardgate.limits")


class RedisLimits:
    remote = True  # settle through the network: the stage does it behind the answer

    def __init__(self, client: aioredis.Redis, prefix: str = "wg:", outage: Outage | None = None) -> None:
        self._redis = client
        self._prefix = prefix + "lim:"
        self._reserve = client.register_script(RESERVE)
        self._settles = MergedSettles(client.register_script(SETTLE_MANY), self._k)
        self._init = client.register_script(INIT)
        # concurrent calls share one pipeline per round trip; a settlement rides with the next reservation, and a
        # reservation never queues behind a settlement's round trip (limits/redis_batch.py)
        self._calls = ScriptBatcher(client)
        self.outage = outage or Outage("Redis (budgets and rate limits)", log, quiet_s=1.0)

    @contextmanager
    def _store(self) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:  # OSError: socket errors and timeouts; RedisError: pool exhausted too
            self.outage.failed(exc)
            raise StoreUnavailable("Budgets and rate limits cannot be checked right now; retry shortly.") from None
        self.outage.recovered()

    def _k(self, key: str) -> str:
        return "{" + self._prefix + key + "}"  # a hash tag: the derived keys land on the same cluster slot

    async def reserve(
        self, request_id: str, budgets: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float, units: int = 1
    ) -> Decision:
        """``units`` > 1: a lease (limits/lease.py) of up to that many requests' worth, as much as the counters'
        room allows (at most 1/``LEASE_ROOM`` of it); ``Decision.units`` says how many were held."""
        keys = [self._k(b.key) for b in budgets] + [self._k(r.key) for r in rates]
        args: list[str | int | float] = [request_id, len(budgets), len(rates), hold_ttl_s, units]
        for b in budgets:
            args += [b.limit, "1" if b.hard else "0", b.amount, b.ttl_s, b.burst_over, b.burst_s]
        for r in rates:
            args += [r.rpm or 0, r.tpm or 0, r.concurrent or 0, r.tokens, "1" if r.bucket else "0"]
        with self._store():
            out = await self._calls.call(self._reserve, keys, args)
        if int(out[0]) == 0:
            kind: DenyKind = _text(out[2])  # type: ignore[assignment]
            retry = float(_text(out[3])) if kind not in ("budget", "missing") else None
            state = BudgetState(int(out[4]), int(out[5])) if kind == "budget" else None
            return Decision(False, int(out[1]) - 1, kind, retry_after_s=retry, denied_state=state)
        values = out[4:]
        states = [BudgetState(int(values[2 * i]), int(values[2 * i + 1])) for i in range(len(budgets))]
        rest = values[2 * len(budgets) :]
        rate_states = []
        for i, hold in enumerate(rates):
            req, tok, reset_rq, reset_tk = (float(_text(v)) for v in rest[4 * i : 4 * i + 4])
            rate_states.append(
                RateState(
                    requests_remaining=int(req) if hold.rpm is not None and req >= 0 else None,
                    tokens_remaining=int(tok) if hold.tpm is not None and tok >= 0 else None,
                    reset_requests_s=reset_rq,
                    reset_tokens_s=reset_tk,
                )
            )
        return Decision(True, budgets=states, rates=rate_states, units=int(out[1]))

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int]:
        with self._store():  # merged with the other settlements queued meanwhile (limits/redis_settle.py)
            totals: list[int] = await self._calls.merged(self._settles, SettleItem(request_id, budgets, rates))
        return totals

    async def read(self, key: str) -> BudgetState:
        with self._store():
            spent, reserved = await self._redis.hmget(self._k(key), ["spent", "reserved"])
        return BudgetState(int(spent or 0), int(reserved or 0))

    async def first_crossing(self, key: str, threshold: float, ttl_s: float) -> bool:
        mark = self._k(key) + f":w:{threshold}"
        with self._store():
            return bool(await self._redis.set(mark, "1", nx=True, ex=max(1, int(ttl_s))))

    async def initialise(self, key: str, spent: int, ttl_s: float) -> bool:
        with self._store():
            return bool(await self._init(keys=[self._k(key)], args=[spent, max(1, int(ttl_s + 0.999))]))

    async def close(self) -> None:
        return None


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
