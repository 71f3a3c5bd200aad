"""What the limits stage's before step took for a call, for its after step to give back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wardgate.limits.rules import BudgetRule, RateRule
from wardgate.limits.windows import Window

MAX_AMOUNT = 2**50  # one hold or settlement (client- or upstream-controlled sizes): thousands never overflow 64 bits
Notify = Callable[[dict[str, object]], Awaitable[None]]


@dataclass(slots=True)
class Reservation:
    """What before() took, for after() to give back."""

    budgets: list[tuple[BudgetRule, str, Window, int]] = field(default_factory=list)  # rule, key, window, amount
    rates: list[tuple[RateRule, str, int]] = field(default_factory=list)  # rule, key, tokens
    output_bound: int | None = None  # a stream longer than this is cut (set when the bound came from the budget)
    estimated: bool = False  # the prompt was bounded by its size, not counted
    uncounted: bool = False  # admitted while the store was down (limits.on_store_error: allow): nothing is held
    streamed_chars: int = 0
