"""The usage ledger: one row per request, written in batches, idempotent by request id, and its aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.tables import projects, usage_events

GroupKey = Literal["project", "team", "user", "key", "model", "deployment", "provider", "day", "month"]
GROUP_KEYS: tuple[GroupKey, ...] = ("project", "team", "user", "key", "model", "deployment", "provider", "day", "month")
_COLUMNS = {
    "project": usage_events.c.project_id,
    "team": usage_events.c.team_id,
    "user": usage_events.c.user_id,
    "key": usage_events.c.key_id,
    "model": usage_events.c.model,
    "deployment": usage_events.c.deployment,
    "provider": usage_events.c.provider,
}


@dataclass(slots=True)
class UsageEvent:
    request_id: str
    ts: datetime
    principal_kind: str
    principal_id: str
    surface: str
    operation: str
    model: str
    status: int
    project_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    deployment: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nanousd: int = 0
    latency_ms: int | None = None
    ttft_ms: int | None = None
    error_code: str | None = None
    cache_hit: bool = False
    stream: bool = False
    details: dict[str, Any] | None = field(default=None)


_FIELDS = tuple(f.name for f in fields(UsageEvent))
# one statement per dialect, executed with many parameter sets: compiled once and cached by SQLAlchemy (a
# multi-VALUES statement built per batch costs a fresh compile, ~40 % of a worker's CPU under load)
_INSERT: dict[str, Any] = {}


def _insert(dialect: str) -> Any:
    """The dialect's idempotent insert, built once (and its dialect module loaded only when it is used)."""
    found = _INSERT.get(dialect)
    if found is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            found = pg_insert(usage_events).on_conflict_do_nothing(index_elements=["request_id"])
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            found = sqlite_insert(usage_events).on_conflict_do_nothing(index_elements=["request_id"])
        _INSERT[dialect] = found
    return found


async def insert_events(engine: AsyncEngine, events: Sequence[UsageEvent]) -> None:
    """Write a batch. A retried batch (after a failed flush) never doubles a row: request ids are unique."""
    if not events:
        return
    rows = [{name: getattr(e, name) for name in _FIELDS} for e in events]
    async with engine.begin() as conn:
        await conn.execute(_insert(conn.dialect.name), rows)


def _bucket(engine: AsyncEngine, unit: str) -> Any:
    if engine.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(unit, usage_events.c.ts), "YYYY-MM-DD" if unit == "day" else "YYYY-MM")
    return func.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m", usage_events.c.ts)


async def aggregate(
    engine: AsyncEngine,
    group_by: Sequence[GroupKey],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    project_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Sum tokens, cost and requests by the given keys over [start, end). ``project_ids`` limits what is visible."""
    columns = []
    for key in group_by:
        if key in ("day", "month"):
            columns.append(_bucket(engine, key).label(key))
        else:
            columns.append(_COLUMNS[key].label(key))
    sums = [
        func.count().label("requests"),
        func.coalesce(func.sum(usage_events.c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(usage_events.c.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(usage_events.c.cached_tokens), 0).label("cached_tokens"),
        func.coalesce(func.sum(usage_events.c.cache_write_tokens), 0).label("cache_write_tokens"),
        func.coalesce(func.sum(usage_events.c.reasoning_tokens), 0).label("reasoning_tokens"),
        func.coalesce(func.sum(usage_events.c.cost_nanousd), 0).label("cost_nanousd"),
    ]
    query = select(*columns, *sums)
    if start is not None:
        query = query.where(usage_events.c.ts >= start)
    if end is not None:
        query = query.where(usage_events.c.ts < end)
    if project_ids is not None:
        query = query.where(usage_events.c.project_id.in_(list(project_ids)))
    if columns:
        query = query.group_by(*columns).order_by(*columns)
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def chargeback(engine: AsyncEngine, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per project (with its cost centre) and model over [start, end): what each cost centre is charged."""
    query = (
        select(
            usage_events.c.project_id.label("project_id"),
            projects.c.name.label("project"),
            projects.c.cost_center.label("cost_center"),
            usage_events.c.model.label("model"),
            func.count().label("requests"),
            func.coalesce(func.sum(usage_events.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(usage_events.c.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(usage_events.c.cached_tokens), 0).label("cached_tokens"),
            func.coalesce(func.sum(usage_events.c.cost_nanousd), 0).label("cost_nanousd"),
        )
        .select_from(usage_events.outerjoin(projects, projects.c.id == usage_events.c.project_id))
        .where((usage_events.c.ts >= start) & (usage_events.c.ts < end))
        .group_by(usage_events.c.project_id, projects.c.name, projects.c.cost_center, usage_events.c.model)
        .order_by(usage_events.c.project_id, usage_events.c.model)
    )
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def by_request_id(engine: AsyncEngine, request_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(usage_events).where(usage_events.c.request_id == request_id))).mappings().first()
        )
    return dict(row) if row is not None else None
