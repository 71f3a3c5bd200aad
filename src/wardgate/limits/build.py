"""Config → the limits stage and its backend; budget counters rebuilt from the ledger (at start-up for the embedded
backend, and whenever a counter is missing: a new budget or window, a Redis flush or eviction)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.core.call import CostOf
from wardgate.core.errors import StoreUnavailable
from wardgate.core.outage import Outage
from wardgate.limits.backend import LimitsBackend
from wardgate.limits.counters import LedgerSpend
from wardgate.limits.estimate import Estimator
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.reservation import Notify
from wardgate.limits.rules import WINDOW_SLACK_S, BudgetRule, RateRule
from wardgate.limits.stage import LimitsStage
from wardgate.limits.windows import Window
from wardgate.store.audit import AuditEntry
from wardgate.store.tables import usage_events
from wardgate.usage.cost import price_table
from wardgate.usage.pricing import Price

if TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis

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


def new_backend(settings: Settings, redis: aioredis.Redis | None, redis_outage: Outage) -> LimitsBackend:
    if redis is not None and settings.redis is not None:
        from wardgate.limits.lease import LeasingBackend
        from wardgate.limits.redis import RedisLimits  # redis-py only when `redis:` is configured

        limits = settings.limits
        inner = RedisLimits(redis, settings.redis.key_prefix, redis_outage)
        return inner if limits.lease_requests <= 1 else LeasingBackend(inner, limits.lease_requests, limits.lease_s)
    return MemoryLimits()


def build_limits(
    settings: Settings,
    backend: LimitsBackend,
    cost_of: CostOf,
    notify: Notify,
    cached_models: frozenset[str],
    engine: AsyncEngine,
) -> LimitsStage:
    """``cached_models``: the models the response cache serves, the only ones a budget can tip to it; ``engine``:
    the store whose ledger rebuilds a missing counter."""
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
        notify,
        cached_models,
        ledger_spend(engine, model_classes(settings)),
    )


def notifier(settings: Settings, audit: BatchWriter[AuditEntry], http: aiohttp.ClientSession) -> Notify:
    """A crossing goes to the log (the stage), the audit trail, and the webhook when one is configured."""
    url = settings.limits.webhook_url

    async def notify(event: dict[str, object]) -> None:
        audit.put(AuditEntry("system", str(event["type"]), str(event["budget"]), event, datetime.now(UTC)))
        if url is None:
            return
        try:
            async with http.post(
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


def _amount(rule: BudgetRule) -> Any:
    if rule.in_usd:
        return usage_events.c.cost_nanousd
    return usage_events.c.input_tokens + usage_events.c.output_tokens


# a cached answer costs nothing against a budget (the stage settles it at 0), so the ledger's sum skips it
_COUNTED = usage_events.c.cache_hit.is_(False)


def ledger_spend(engine: AsyncEngine, classes: Mapping[str, str]) -> LedgerSpend:
    """One budget counter's spend in its window, read from the ledger (rows already flushed)."""
    outage = Outage("the ledger (rebuilding budget counters)", log)

    async def spend(rule: BudgetRule, key: str, window: Window) -> int:
        value = rule.value_of(key)
        scope = rule.config.scope
        if scope not in _SCOPE_COLUMNS and scope not in ("global", "model_class"):
            return 0  # end_user: the ledger does not keep the client-asserted end user (docs/configuration.md)
        where = (usage_events.c.ts >= window.start) & (usage_events.c.ts < window.end) & _COUNTED
        if scope == "model_class":
            where &= usage_events.c.model.in_(sorted(m for m, c in classes.items() if c == value))
        elif scope != "global":
            where &= _SCOPE_COLUMNS[scope] == value
        query = select(func.coalesce(func.sum(_amount(rule)), 0)).where(where)
        try:
            async with engine.connect() as conn:
                total = int((await conn.execute(query)).scalar_one())
        except (SQLAlchemyError, OSError) as exc:
            outage.failed(exc)
            raise StoreUnavailable("Budget counters cannot be rebuilt right now (the ledger is unavailable).") from None
        outage.recovered()
        return total

    return spend


async def rebuild_from_ledger(stage: LimitsStage, engine: AsyncEngine, classes: Mapping[str, str]) -> None:
    """Embedded backend, at start-up: counters live in memory, so each one with spend this window starts from the
    ledger in one grouped query per budget (counters without spend are rebuilt on first use)."""
    now = datetime.now(UTC)
    for rule in stage.budgets:
        window = rule.window(now, stage.zone)
        if window is None:
            continue
        amount = _amount(rule)
        scope = rule.config.scope
        if scope == "end_user":
            continue  # the ledger does not keep the client-asserted end user: these counters start afresh
        group = usage_events.c.model if scope == "model_class" else _SCOPE_COLUMNS.get(scope)
        columns = [group] if group is not None else []
        query = select(*columns, func.coalesce(func.sum(amount), 0)).where(
            (usage_events.c.ts >= window.start) & (usage_events.c.ts < window.end) & _COUNTED
        )
        if columns:
            query = query.group_by(*columns)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        ttl = (window.end - now).total_seconds() + WINDOW_SLACK_S
        spent: dict[str, int] = {}  # several models may share a class: one sum per counter
        for row in rows:
            value = "*" if not columns else row[0]
            if scope == "model_class":
                value = classes.get(value)
            if value is None or not row[-1]:
                continue
            if rule.config.match is not None and rule.config.match != value:
                continue  # (a match by project name is rebuilt on first use)
            key = rule.key(str(value), window)
            spent[key] = spent.get(key, 0) + int(row[-1])
        for key, amount in spent.items():
            await stage.backend.initialise(key, amount, ttl)
