"""Budget state for people and dashboards: spent, reserved, remaining and when it resets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from wardgate.limits.rules import NANO, BudgetRule
from wardgate.limits.stage import LimitsStage


def _values(stage: LimitsStage, rule: BudgetRule, value: str | None) -> list[str]:
    if value is not None:
        return [value]
    if rule.config.scope == "global":
        return ["*"]
    if rule.config.scope == "end_user":
        return []  # one counter per client-asserted id, hashed: read one with ?scope_value=<counter id>
    seen = sorted({v for (r, v, _) in stage.seen_keys.values() if r.config.name == rule.config.name})
    return seen or ([rule.config.match] if rule.config.match else [])


async def budget_states(stage: LimitsStage, name: str | None = None, value: str | None = None) -> list[dict[str, Any]]:
    """Every budget (or the one named), for each scope value this worker has seen (or the one asked for)."""
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for rule in stage.budgets:
        if name is not None and rule.config.name != name:
            continue
        window = rule.window(now, stage.zone)
        for scope_value in _values(stage, rule, value):
            state = await stage.backend.read(rule.key(scope_value, window)) if window is not None else None
            spent = state.spent if state else 0
            reserved = state.reserved if state else 0
            out.append(
                {
                    "budget": rule.config.name,
                    "scope": rule.config.scope,
                    "scope_value": scope_value,
                    "cap": rule.config.cap,
                    "unit": "usd" if rule.in_usd else "tokens",
                    "window": rule.config.window if isinstance(rule.config.window, str) else "contract",
                    "active": window is not None,
                    "limit": _amount(rule, rule.limit),
                    "spent": _amount(rule, spent),
                    "reserved": _amount(rule, reserved),
                    "remaining": _amount(rule, max(0, rule.limit - spent - reserved)),
                    "resets_at": window.end.isoformat().replace("+00:00", "Z") if window else None,
                    "on_exceed": rule.config.on_exceed,
                }
            )
    return out


def _amount(rule: BudgetRule, value: int) -> str | int:
    return f"{Decimal(value) / NANO:.9f}" if rule.in_usd else value
