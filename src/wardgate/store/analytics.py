"""Analytics over the ledger (``GET /admin/v1/analytics``): metrics grouped by ledger dimensions and time buckets.

The hourly roll-ups answer whenever one holds every dimension asked for (``analytics_rollup.py``). Otherwise one SQL
aggregate over the ledger rows for the sums (the same rows, the same integers the ledger holds: spend and tokens agree
with it to the token and the nano-dollar); p95s are ``percentile_disc(0.95)`` on PostgreSQL, and the same nearest-rank
value computed from the fetched latencies on SQLite (bounded by ``MAX_P95_ROWS``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from math import ceil
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.analytics_rollup import columns, from_rollup, rollup_for, usd
from wardgate.store.tables import usage_events

c = usage_events.c
Metric = Literal["spend_usd", "requests", "tokens_in", "tokens_out", "errors", "ttft_p95", "latency_p95"]
METRICS: tuple[Metric, ...] = ("spend_usd", "requests", "tokens_in", "tokens_out", "errors", "ttft_p95", "latency_p95")
DIMENSIONS: dict[str, Any] = {
    "project": c.project_id,
    "team": c.team_id,
    "user": c.user_id,
    "key": c.key_id,
    "model": c.model,
    "provider": c.provider,
    "deployment": c.deployment,
    "cache": c.cache_hit,
    "status": c.status,
    "surface": c.surface,
    "operation": c.operation,
    "prompt_name": c.prompt_name,  # managed prompts (docs/prompts.md): a canary's arms side by side
    "prompt_version": c.prompt_version,
    "prompt_variant": c.prompt_variant,
    # from the row's details (JSON), where present: how it was routed, what the guards did, which MCP tool it called
    "route": c.details[("route", "strategy")].as_string(),  # the routing strategy that picked the deployment
    "route_arm": c.details[("route", "arm")].as_string(),  # a canary's arm
    "guard_outcome": c.details["guard_outcome"].as_string(),  # `name=action,…` of the guards that acted (sorted)
    "tool": case((and_(c.surface == "mcp", c.operation == "tools/call"), c.model)),  # an MCP tools/call's tool
    "virtual_server": c.details[("mcp", "virtual_server")].as_string(),  # the MCP virtual server it went through
}
Interval = Literal["hour", "day", "none"]
INTERVALS: tuple[Interval, ...] = ("hour", "day", "none")
MAX_P95_ROWS = 2_000_000  # SQLite computes p95s in Python: past this many rows, a narrower window is asked for
_P95 = {"ttft_p95": c.ttft_ms, "latency_p95": c.latency_ms}


class TooManyRows(Exception):
    pass


def _bucket(engine: AsyncEngine, interval: Interval) -> Any:
    if engine.dialect.name == "postgresql":
        trunc = func.date_trunc(interval, func.timezone("UTC", c.ts))
        return func.to_char(trunc, 'YYYY-MM-DD"T"HH24:00:00"Z"')
    return func.strftime("%Y-%m-%dT%H:00:00Z" if interval == "hour" else "%Y-%m-%dT00:00:00Z", c.ts)


def _filters(start: datetime | None, end: datetime | None, project_ids: Sequence[str] | None, query: Any) -> Any:
    if start is not None:
        query = query.where(c.ts >= start)
    if end is not None:
        query = query.where(c.ts < end)
    if project_ids is not None:
        query = query.where(c.project_id.in_(list(project_ids)))
    return query


async def analytics(
    engine: AsyncEngine,
    metrics: Sequence[Metric],
    group_by: Sequence[str],
    interval: Interval,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    project_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """``analytics_rows`` as one dict per row."""
    names, rows = await analytics_rows(
        engine, metrics, group_by, interval, start=start, end=end, project_ids=project_ids
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


async def analytics_rows(
    engine: AsyncEngine,
    metrics: Sequence[Metric],
    group_by: Sequence[str],
    interval: Interval,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    project_ids: Sequence[str] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """The column names (``analytics_rollup.columns``: ``bucket`` when an interval is asked for, the dimensions, then
    the metrics, ``spend_usd`` with ``cost_nanousd``) and one list of values per (bucket, group), ready to serialise.
    Every ledger row counts (refused calls carry no tokens or cost, so the sums equal the billable ones). When a
    roll-up holds every dimension asked for, it answers (``analytics_rollup.py``: p95s from its histograms)."""
    table = rollup_for(group_by)
    if table is not None:
        async with engine.connect() as conn:
            return await from_rollup(
                conn, table, metrics, group_by, interval, start=start, end=end, project_ids=project_ids
            )
    return await _from_ledger(engine, metrics, group_by, interval, start, end, project_ids)


async def _from_ledger(
    engine: AsyncEngine,
    metrics: Sequence[Metric],
    group_by: Sequence[str],
    interval: Interval,
    start: datetime | None,
    end: datetime | None,
    project_ids: Sequence[str] | None,
) -> tuple[list[str], list[list[Any]]]:
    keys: list[Any] = []
    if interval != "none":
        keys.append(_bucket(engine, interval).label("bucket"))
    keys += [DIMENSIONS[name].label(name) for name in group_by]
    aggregates = [
        func.coalesce(func.sum(c.cost_nanousd), 0).label("cost_nanousd"),
        func.count().label("requests"),
        func.coalesce(func.sum(c.input_tokens), 0).label("tokens_in"),
        func.coalesce(func.sum(c.output_tokens), 0).label("tokens_out"),
        func.coalesce(func.sum(case((c.status >= 400, 1), else_=0)), 0).label("errors"),
    ]
    postgres = engine.dialect.name == "postgresql"
    wanted_p95: list[str] = [m for m in metrics if m in _P95]
    if postgres:
        aggregates += [func.percentile_disc(0.95).within_group(_P95[m]).label(m) for m in wanted_p95]
    query = _filters(start, end, project_ids, select(*keys, *aggregates))
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    names = [k.name for k in keys]
    async with engine.connect() as conn:
        rows = [dict(row) for row in (await conn.execute(query)).mappings()]
        if wanted_p95 and not postgres:
            p95s = await _p95_in_python(conn, keys, names, wanted_p95, start, end, project_ids)
            for row in rows:
                found = p95s.get(tuple(row[n] for n in names), {})
                for m in wanted_p95:
                    row[m] = found.get(m)
    out = []
    for row in rows:
        values = [row[n] for n in names]
        for metric in metrics:
            if metric == "spend_usd":
                values += (usd(int(row["cost_nanousd"])), int(row["cost_nanousd"]))
            else:
                value = row[metric]
                values.append(int(value) if value is not None else None)
        out.append(values)
    return columns(metrics, group_by, interval), out


async def _p95_in_python(
    conn: Any,
    keys: list[Any],
    names: list[str],
    wanted: list[str],
    start: datetime | None,
    end: datetime | None,
    project_ids: Sequence[str] | None,
) -> dict[tuple[Any, ...], dict[str, int | None]]:
    count = (await conn.execute(_filters(start, end, project_ids, select(func.count())))).scalar_one()
    if count > MAX_P95_ROWS:
        raise TooManyRows(f"p95 over {count} rows on SQLite: narrow the window (at most {MAX_P95_ROWS} rows)")
    values: dict[tuple[Any, ...], dict[str, list[int]]] = defaultdict(lambda: {m: [] for m in wanted})
    query = _filters(start, end, project_ids, select(*keys, *(_P95[m].label(m) for m in wanted)))
    for row in (await conn.execute(query)).mappings():
        group = values[tuple(row[n] for n in names)]
        for m in wanted:
            if row[m] is not None:
                group[m].append(row[m])
    return {key: {m: nearest_rank(v, 0.95) for m, v in groups.items()} for key, groups in values.items()}


def nearest_rank(values: list[int], q: float) -> int | None:
    """The smallest value whose cumulative share is ≥ q: what PostgreSQL's percentile_disc returns."""
    if not values:
        return None
    values.sort()
    return values[max(ceil(q * len(values)) - 1, 0)]
