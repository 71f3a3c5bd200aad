"""Config → the limits stage and its backend; rebuilding embedded counters from the ledger at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select

from wardgate.accounting.cost import price_table
from wardgate.accounting.pricing import Price
from wardgate.accounting.stage import CostOf
from wardgate.cache.build import policy_of
from wardgate.config.schema import Settings
from wardgate.limits.backend import LimitsBackend
from wardgate.limits.estimate import Estimator
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.redis import RedisLimits
from wardgate.limits.rules import WINDOW_SLACK_S, BudgetRule, RateRule
from wardgate.limits.stage import LimitsStage, Notify
from wardgate.services import Services
from wardgate.store.audit import AuditEntry
from wardgate.store.tables import usage_events

log = logging.getLogger("wardgate.limits")


def model_classes(settings: Settings) -> dict[str, str]:
    """Public model → its class (the first deployment's ``model_class``, when deployments declare one)."""
    out: dict[str, str] = {}
    for name, entries in settings.models.items():
        for entry in _deployments(entries):
            found = getattr(entry, "model_class", None)
            if found:
                out[name] = found
                break
    return out


def _deployments(entries: Any) -> list[Any]:
    return list(getattr(entries, "deployments", entries))


def model_prices(settings: Settings) -> dict[str, list[Price | None]]:
    table = price_table(settings)
    out: dict[str, list[Price | None]] = {}
    for name, entries in settings.models.items():
        prices: list[Price | None] = []
        for entry in _deployments(entries):
            provider_type = getattr(settings.providers[entry.provider], "type", "")
            prices.append(table.for_deployment(f"{entry.provider}/{entry.model}", provider_type, entry.model))
        out[name] = prices
    return out


def new_backend(services: Services) -> LimitsBackend:
    if services.redis is not None and services.settings.redis is not None:
        return RedisLimits(services.redis, services.settings.redis.key_prefix)
    return MemoryLimits()


def build_limits(settings: Settings, services: Services, backend: LimitsBackend, cost_of: CostOf) -> LimitsStage:
    budgets = [BudgetRule.of(b) for b in settings.budgets]
    rates = [RateRule(r) for r in settings.rate_limits]
    prices = model_prices(settings)
    for rule in budgets:
        if rule.in_usd:
            unpriced = sorted(m for m, ps in prices.items() if any(p is None for p in ps))
            if unpriced:
                log.warning(
                    "budget %s is in USD but these models have no price (they cost 0 against it): %s",
                    rule.config.name,
                    ", ".join(unpriced),
                )
    return LimitsStage(
        budgets,
        rates,
        backend,
        settings.limits,
        Estimator(prices, settings.limits.output_estimate_tokens),
        cost_of,
        model_classes(settings),
        notifier(settings, services),
        frozenset(m for m in settings.models if policy_of(settings, m) is not None),
    )


def notifier(settings: Settings, services: Services) -> Notify:
    """A crossing goes to the log (the stage), the audit trail, and the webhook when one is configured."""
    url = settings.limits.webhook_url

    async def notify(event: dict[str, object]) -> None:
        services.audit.put(AuditEntry("system", str(event["type"]), str(event["budget"]), event, datetime.now(UTC)))
        if url is None:
            return
        try:
            async with services.http.session.post(
                url, data=orjson.dumps(event), headers={"content-type": "application/json"}
            ) as response:
                if response.status >= 300:
                    log.warning("budget webhook %s answered %s", url, response.status)
        except Exception:  # a webhook outage must not fail the request that crossed the threshold
            log.exception("budget webhook %s failed", url)

    return notify


_SCOPE_COLUMNS = {
    "project": usage_events.c.project_id,
    "team": usage_events.c.team_id,
    "user": usage_events.c.user_id,
    "key": usage_events.c.key_id,
    "model": usage_events.c.model,
}


async def rebuild_from_ledger(stage: LimitsStage, services: Services, classes: Mapping[str, str]) -> None:
    """Embedded backend only: counters live in memory, so a restart re-reads this window's spend from the ledger."""
    now = datetime.now(UTC)
    for rule in stage.budgets:
        window = rule.window(now, stage.zone)
        if window is None:
            continue
        amount = (
            usage_events.c.cost_nanousd if rule.in_usd else (usage_events.c.input_tokens + usage_events.c.output_tokens)
        )
        scope = rule.config.scope
        if scope == "end_user":
            continue  # the ledger does not keep the client-asserted end user: these counters start afresh
        group = usage_events.c.model if scope == "model_class" else _SCOPE_COLUMNS.get(scope)
        columns = [group] if group is not None else []
        query = select(*columns, func.coalesce(func.sum(amount), 0)).where(
            (usage_events.c.ts >= window.start) & (usage_events.c.ts < window.end)
        )
        if columns:
            query = query.group_by(*columns)
        async with services.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        ttl = (window.end - now).total_seconds() + WINDOW_SLACK_S
        for row in rows:
            value = "*" if not columns else row[0]
            if scope == "model_class":
                value = classes.get(value)
            if value is None or not row[-1]:
                continue
            if rule.config.match is not None and rule.config.match != value:
                continue
            await stage.backend.add_spent(rule.key(str(value), window), int(row[-1]), ttl)
