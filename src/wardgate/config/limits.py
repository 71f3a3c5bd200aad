"""The `limits:`, `budgets:` and `rate_limits:` config sections."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scope = Literal["global", "project", "team", "user", "key", "end_user", "model", "model_class", "tool"]
CalendarWindow = Literal["minute", "hour", "day", "week", "month"]

# Counters are 64-bit integers (nano-dollars or tokens) in Redis and in Lua: a limit, its burst (up to 10× more) and
# the spend a soft cap lets past it must all fit, with room to spare.
MAX_LIMIT_USD = Decimal(100_000_000)  # per window: $100M is 10^17 nano-dollars
MAX_LIMIT_TOKENS = 10**15
USD_PLACES = 9  # the counters' unit is one nano-dollar


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractPeriod(_Frozen):
    """A custom period: from ``start`` (inclusive) to ``end`` (exclusive), dates in the limits time zone."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ContractPeriod:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class BurstConfig(_Frozen):
    """Once the cap is crossed, allow up to ``over`` (a fraction of the limit) more for ``duration_s``."""

    over: Annotated[float, Field(gt=0, le=10)]
    duration_s: Annotated[float, Field(gt=0, le=86_400)]


class BudgetConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    scope: Scope
    match: str | None = None  # one scope value (a project name or id, a model …); unset: each value has its own
    window: CalendarWindow | ContractPeriod = "month"
    limit_usd: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    limit_tokens: Annotated[int, Field(gt=0)] | None = None
    cap: Literal["hard", "soft"] = "hard"
    warn_at: tuple[Annotated[float, Field(gt=0, le=10)], ...] = (0.8, 1.0)
    burst: BurstConfig | None = None
    on_exceed: Literal["refuse", "fallback", "cache"] = "refuse"
    fallback: tuple[str, ...] = ()  # public model names, cheapest last tried … in order

    @field_validator("limit_usd")
    @classmethod
    def _usd_in_range(cls, value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if value > MAX_LIMIT_USD:
            raise ValueError(f"must be at most {MAX_LIMIT_USD} (USD per window; counters are 64-bit nano-dollars)")
        if value != value.quantize(Decimal(1).scaleb(-USD_PLACES)):
            raise ValueError(f"at most {USD_PLACES} decimal places (budgets count in nano-dollars)")
        return value

    @field_validator("limit_tokens")
    @classmethod
    def _tokens_in_range(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_LIMIT_TOKENS:
            raise ValueError(f"must be at most {MAX_LIMIT_TOKENS} (tokens per window; counters are 64-bit)")
        return value

    @model_validator(mode="after")
    def _one_limit(self) -> BudgetConfig:
        if (self.limit_usd is None) == (self.limit_tokens is None):
            raise ValueError("give exactly one of limit_usd and limit_tokens")
        if self.on_exceed == "fallback" and not self.fallback:
            raise ValueError("on_exceed: fallback needs a `fallback:` list of cheaper models")
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global budget has no `match`")
        return self


class RateLimitConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    scope: Scope
    match: str | None = None
    rpm: Annotated[int, Field(gt=0, le=100_000_000)] | None = None
    tpm: Annotated[int, Field(gt=0, le=100_000_000_000)] | None = None
    concurrent: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    algorithm: Literal["sliding", "token_bucket"] = "sliding"

    @model_validator(mode="after")
    def _something(self) -> RateLimitConfig:
        if self.rpm is None and self.tpm is None and self.concurrent is None:
            raise ValueError("give at least one of rpm, tpm, concurrent")
        return self


class LimitsConfig(_Frozen):
    timezone: str = "UTC"  # calendar windows (day, week, month) and contract dates are in this zone
    output_estimate_tokens: Annotated[int, Field(gt=0)] = 4096  # output bound when a request sets no max_tokens
    clamp_max_tokens: bool = False  # lower a request's max_tokens to what the tightest hard budget still affords
    webhook_url: str | None = None  # soft-cap crossings are POSTed here (JSON), once per crossing
    max_request_s: Annotated[float, Field(gt=0)] = 900  # a reservation not settled by then is released
    refresh_s: Annotated[float, Field(gt=0, le=3600)] = 5.0  # how often budgets made in the admin API are re-read
    on_store_error: Literal["refuse", "allow"] = "refuse"  # Redis down: answer 503, or admit without counting
    hold_wait_s: Annotated[float, Field(ge=0, le=60)] = 5.0  # near a cap, wait this long for others' holds to settle
    # Redis: a worker holds up to this many requests' worth of a counter at once (limits/lease.py); 1: none
    lease_requests: Annotated[int, Field(ge=1, le=1024)] = 32
    lease_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # a lease's unused part goes back after this long

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a time zone (use an IANA name such as UTC or Europe/Paris)") from exc
        return value
