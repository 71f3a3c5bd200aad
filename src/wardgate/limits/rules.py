"""Compiled budgets and rate limits: which ones a call falls under, and under which counter key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from wardgate.config.limits import BudgetConfig, RateLimitConfig, Scope
from wardgate.core.call import Call
from wardgate.core.principal import Principal
from wardgate.limits.windows import Window, window_at

NANO = Decimal(1_000_000_000)
WINDOW_SLACK_S = 3600.0  # counters outlive their window a little, so a late settle still finds them


def scope_value(scope: Scope, call: Call, model_classes: Mapping[str, str]) -> tuple[str, ...]:
    """The values a call has for a scope: the first is the id used in counter keys; the others (a project's name)
    only serve ``match``. Empty: the scope does not apply (e.g. a project budget and the master key)."""
    principal: Principal | None = call.principal
    if scope == "global":
        return ("*",)
    if scope == "tool":  # MCP tool calls only; a tool call is not a model call
        return (call.tool,) if call.tool is not None else ()
    if call.surface == "mcp" and scope in ("model", "model_class"):
        return ()
    if scope == "model":
        return (call.model,)
    if scope == "model_class":
        found = model_classes.get(call.model)
        return (found,) if found else ()
    if principal is None:
        return ()
    if scope == "project":
        if principal.project is None:
            return ()
        return (principal.project, principal.project_name) if principal.project_name else (principal.project,)
    if scope == "team":
        return (principal.team,) if principal.team else ()
    if scope == "user":
        return (principal.user,) if principal.user else ()
    if scope == "end_user":
        return end_user_values(principal, call.end_user)
    return (principal.id,) if principal.kind == "key" else ()


def end_user_values(principal: Principal, end_user: str | None) -> tuple[str, ...]:
    """An end user's counter id, then its raw id (for ``match``). The id is client-asserted: counted within the
    project (else the principal), hashed so it stays short in keys; calls that send none share one counter per
    principal, so leaving ``user`` out never escapes the limit."""
    owner = principal.project or f"{principal.kind}:{principal.id}"
    if not end_user:
        return (f"{owner}/anon:{principal.id}",)
    digest = hashlib.sha256(f"{owner}\x00{end_user}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return (f"{owner}/e:{digest}", end_user)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    config: BudgetConfig
    limit: int  # nano-dollars or tokens
    in_usd: bool
    burst_over: int

    @classmethod
    def of(cls, config: BudgetConfig) -> BudgetRule:
        in_usd = config.limit_usd is not None
        limit = int(config.limit_usd * NANO) if config.limit_usd is not None else int(config.limit_tokens or 0)
        burst = int(limit * config.burst.over) if config.burst is not None else 0
        return cls(config, limit, in_usd, burst)

    def key(self, value: str, window: Window) -> str:
        return f"b:{self.config.name}:{value}:{window.id}"

    def value_of(self, key: str) -> str:
        """The scope value in one of this rule's keys (names and window ids hold no ':'; values may)."""
        return key.split(":", 2)[2].rsplit(":", 1)[0]

    def window(self, now: datetime, zone: ZoneInfo) -> Window | None:
        return window_at(self.config.window, now, zone)

    def describe_limit(self) -> str:
        return f"${self.config.limit_usd}" if self.in_usd else f"{self.limit} tokens"

    def describe(self, value: int) -> str:
        return f"${Decimal(value) / NANO:.2f}" if self.in_usd else f"{value} tokens"


@dataclass(frozen=True, slots=True)
class RateRule:
    config: RateLimitConfig

    def key(self, value: str) -> str:
        return f"r:{self.config.name}:{value}"


def matches(config: BudgetConfig | RateLimitConfig, values: Sequence[str]) -> bool:
    return bool(values) and (config.match is None or config.match in values)
