"""What a limits backend does, in one atomic step each: reserve, settle, read, initialise.

A reservation either takes every hold it needs (each matching budget, each rate limit) or none, so concurrent
requests can never together pass a hard cap: that is what "hold under concurrency" means. Amounts are integers:
nano-dollars for money budgets, tokens for token budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

DenyKind = Literal["budget", "rpm", "tpm", "concurrent", "missing"]  # missing: a counter to rebuild first


@dataclass(frozen=True, slots=True)
class BudgetHold:
    key: str  # the counter: one budget, one scope value, one window
    limit: int
    hard: bool
    amount: int  # reserved now: the worst case of this call
    ttl_s: float  # how long the counter must live (to the window's end, plus slack)
    burst_over: int = 0  # extra allowed for burst_s once the cap is first crossed in this window
    burst_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RateHold:
    key: str
    rpm: int | None
    tpm: int | None
    concurrent: int | None
    tokens: int  # counted against tpm now; corrected at settle
    bucket: bool = False  # token bucket instead of a sliding window


@dataclass(frozen=True, slots=True)
class BudgetState:
    spent: int
    reserved: int  # including this call's hold, when returned by reserve


@dataclass(frozen=True, slots=True)
class RateState:
    requests_remaining: int | None
    tokens_remaining: int | None
    reset_requests_s: float
    reset_tokens_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    denied_index: int | None = None  # which hold refused (index into budgets, or into rates)
    denied_kind: DenyKind | None = None
    retry_after_s: float | None = None
    budgets: list[BudgetState] = field(default_factory=list)
    rates: list[RateState] = field(default_factory=list)
    denied_state: BudgetState | None = None  # the refusing budget counter (without this call's hold)
    units: int = 1  # requests' worth held: more than 1 only for a lease (limits/lease.py)


@dataclass(frozen=True, slots=True)
class Settlement:
    key: str
    actual: int  # what the call really used; the hold is released
    ttl_s: float
    release: int = -1  # how much of the hold to release: -1 all of it; a lease's requests release their part


@dataclass(frozen=True, slots=True)
class RateSettlement:
    key: str
    reserved_tokens: int
    actual_tokens: int
    concurrent: bool
    unused: tuple[str, ...] = ()  # sliding-window members to remove: the requests a returned lease did not use


class LimitsBackend(Protocol):
    async def reserve(
        self, request_id: str, budgets: list[BudgetHold], rates: list[RateHold], hold_ttl_s: float
    ) -> Decision: ...

    async def settle(self, request_id: str, budgets: list[Settlement], rates: list[RateSettlement]) -> list[int]:
        """Release the holds, add the actual amounts; returns each budget's spent total after settling."""
        ...

    async def read(self, key: str) -> BudgetState: ...

    async def first_crossing(self, key: str, threshold: float, ttl_s: float) -> bool:
        """True for exactly one caller (across replicas) per budget window and threshold."""
        ...

    async def initialise(self, key: str, spent: int, ttl_s: float) -> bool:
        """Start a counter at ``spent`` (this window's spend in the ledger), only if nothing initialised it yet.

        Every counter starts uninitialised (a new budget, a new window, a Redis flush or eviction): ``reserve``
        refuses it with ``missing`` until this is called, so no reservation ever counts from 0. Concurrent callers
        (other workers, other replicas) may all rebuild; only the first one's value is kept. Amounts settled on an
        uninitialised counter are kept and added to. Returns whether this call initialised it.
        """
        ...
