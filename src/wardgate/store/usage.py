"""The usage ledger: one row per request, written in batches, idempotent by the gateway's request id, and its
aggregates.

Every event is made writable when it is created (``bounded``): a value a client chose (a model name, its own request
id) can never make a batch fail on PostgreSQL, which rejects NUL bytes, over-long strings and out-of-range integers.
Only billable rows (``billable``: something was answered or consumed) are summed; refused calls stay on the record.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal

import orjson
from sqlalchemy import BigInteger, Column, Integer, String, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.driver_insert import DriverInsert
from wardgate.store.rollup import add_events
from wardgate.store.tables import projects, usage_events

GroupKey = Literal[
    "project", "team", "user", "key", "model", "deployment", "provider", "prompt_name", "prompt_version",
    "prompt_variant", "day", "month",
]  # fmt: skip
GROUP_KEYS: tuple[GroupKey, ...] = (
    "project", "team", "user", "key", "model", "deployment", "provider", "prompt_name", "prompt_version",
    "prompt_variant", "day", "month",
)  # fmt: skip
_COLUMNS = {
    "project": usage_events.c.project_id,
    "team": usage_events.c.team_id,
    "user": usage_events.c.user_id,
    "key": usage_events.c.key_id,
    "model": usage_events.c.model,
    "deployment": usage_events.c.deployment,
    "provider": usage_events.c.provider,
    "prompt_name": usage_events.c.prompt_name,
    "prompt_version": usage_events.c.prompt_version,
    "prompt_variant": usage_events.c.prompt_variant,
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
    client_request_id: str | None = None  # the client's own id, as sent; never unique
    billable: bool = True  # false: refused, or failed with nothing consumed; never in aggregates or chargeback
    prompt_name: str | None = None  # the managed prompt the call rendered (docs/prompts.md)
    prompt_version: str | None = None
    prompt_variant: str | None = None  # control | canary


_FIELDS = tuple(f.name for f in fields(UsageEvent))
_TEXT = tuple(
    (c.name, c.type.length)
    for c in usage_events.c
    if c.name in _FIELDS and isinstance(c.type, String) and c.type.length
)


def _int_range(column: Column[Any]) -> tuple[int, int]:
    bits = 63 if isinstance(column.type, BigInteger) else 31
    return -(2**bits), 2**bits - 1


_INTS = tuple((c.name, *_int_range(c)) for c in usage_events.c if c.name in _FIELDS and isinstance(c.type, Integer))


def bounded(event: UsageEvent) -> UsageEvent:
    """The event with every value storable: text without NUL bytes or lone surrogates and cut to its column's length,
    integers clamped to their column's range. Cheap when nothing needs fixing (the usual case)."""
    for name, length in _TEXT:
        value = getattr(event, name)
        if value is not None and not (len(value) <= length and value.isascii() and "\x00" not in value):
            setattr(event, name, clean_text(value, length))
    for name, low, high in _INTS:
        value = getattr(event, name)
        if value is not None and not low <= value <= high:
            setattr(event, name, min(max(value, low), high))
    if event.details is not None:
        event.details = _clean_details(event.details)
    return event


def clean_text(value: str, length: int | None = None) -> str:
    """``value`` without NUL bytes, with lone surrogates replaced, and at most ``length`` characters."""
    text = value[: length * 2] if length is not None else value  # bound the work before cleaning
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")  # "replace": a lone surrogate becomes "?"
    return text[:length] if length is not None else text


def _clean_details(details: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(details)
    except TypeError:  # a lone surrogate or a value JSON cannot hold: rebuild it from its text
        return {str(k): _clean_json(v) for k, v in details.items()}
    if b"\\u0000" in encoded:  # PostgreSQL's json accepts it, jsonb and text conversions do not
        return {clean_text(str(k)): _clean_json(v) for k, v in details.items()}
    return details


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and -(2**63) <= value < 2**64):
        return value
    return clean_text(str(value))


def describe(event: UsageEvent) -> str:
    """A bounded one-line summary of an event for a log line (the row itself may hold anything a client sent)."""
    model = event.model if len(event.model) <= 64 else event.model[:64] + f"… ({len(event.model)} chars)"
    return (
        f"usage event request_id={event.request_id[:64]!r} principal={event.principal_id[:64]!r} "
        f"project={(event.project_id or '')[:64]!r} model={model!r} status={event.status}"
    )


def _insert(dialect: str) -> Any:
    """The dialect's idempotent insert (its dialect module loaded only when it is used)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(usage_events).on_conflict_do_nothing(index_elements=["request_id"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(usage_events).on_conflict_do_nothing(index_elements=["request_id"])


# compiled once per dialect and executed with one tuple per row (a multi-VALUES statement built per batch cost a
# fresh compile, ~40 % of a worker's CPU; SQLAlchemy's per-row parameter dicts another ~5 %)
_INSERT = DriverInsert(_insert, _FIELDS)
_ROW = attrgetter(*_FIELDS)
event_row = _ROW  # an event as a tuple of its fields, in order: ``UsageEvent(*event_row(e))`` is ``e`` again
InsertEvents = Callable[[Sequence["UsageEvent"], Container[str] | None], Awaitable[None]]


async def insert_events(
    engine: AsyncEngine, events: Sequence[UsageEvent], maybe_written: Container[str] | None = None
) -> None:
    """Write a batch. A retried batch (after a failed flush) never doubles a row: request ids are unique, and are
    the gateway's own (a client's id is only stored in ``client_request_id``). ``maybe_written``: the only request
    ids that may already be in the ledger (those of writes that failed: their commit may have happened with its
    answer lost); None: any may be."""
    if not events:
        return
    async with engine.begin() as conn:
        fresh = await _unwritten(conn, events, maybe_written)
        await _INSERT.execute(conn, map(_ROW, fresh))  # converted a chunk at a time, the loop free in between
        await add_events(conn, fresh)  # the hourly roll-ups, in the same transaction (store/rollup.py)


class LedgerWrites:
    """The usage ledger's batch write. Only the request ids of writes that failed are looked up before inserting
    (a fresh id cannot be in the ledger yet): the lookup, a query of up to 500 ids per batch, is paid after a
    failure, not on every batch."""

    def __init__(self, insert: InsertEvents) -> None:
        self._insert = insert  # ``partial(insert_events, engine)``, or the same in the store writer process
        self._suspect: set[str] = set()

    async def __call__(self, batch: Sequence[UsageEvent]) -> None:
        try:
            await self._insert(batch, self._suspect)
        except BaseException:
            self._suspect.update(e.request_id for e in batch)
            raise
        if self._suspect:
            self._suspect.difference_update(e.request_id for e in batch)


async def _unwritten(
    conn: AsyncConnection, events: Sequence[UsageEvent], maybe_written: Container[str] | None
) -> list[UsageEvent]:
    """The events whose request id the ledger does not hold yet (a batch retried after a commit whose answer was
    lost), each once: the roll-ups then count exactly the rows the insert adds."""
    first: dict[str, UsageEvent] = {}
    for e in events:
        first.setdefault(e.request_id, e)
    unique = list(first.values()) if len(first) < len(events) else list(events)
    ids = [e.request_id for e in unique if maybe_written is None or e.request_id in maybe_written]
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        query = select(usage_events.c.request_id).where(usage_events.c.request_id.in_(ids[start : start + 500]))
        found.update((await conn.execute(query)).scalars())
    return [e for e in unique if e.request_id not in found] if found else unique


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
    """Sum tokens, cost and requests by the given keys over [start, end), billable rows only. ``project_ids`` limits
    what is visible."""
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
    query = select(*columns, *sums).where(usage_events.c.billable)
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
    """Per project (with its cost centre) and model over [start, end): what each cost centre is charged. Refused
    calls (``billable`` false) are not usage and never appear here."""
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
        .where((usage_events.c.ts >= start) & (usage_events.c.ts < end) & usage_events.c.billable)
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


async def by_client_request_id(
    engine: AsyncEngine, client_request_id: str, *, project_ids: Sequence[str] | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The rows a client tagged with its own id, newest first: several calls may share one (it never de-duplicates).
    ``project_ids`` limits what is visible."""
    query = select(usage_events).where(usage_events.c.client_request_id == client_request_id)
    if project_ids is not None:
        query = query.where(usage_events.c.project_id.in_(list(project_ids)))
    query = query.order_by(usage_events.c.ts.desc(), usage_events.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


LEDGER_FILTERS = tuple(_COLUMNS)


async def ledger_page(
    engine: AsyncEngine,
    filters: dict[str, str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    project_ids: Sequence[str] | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Ledger rows (billable or not), newest first, matching every filter (a dimension of ``aggregate`` → value),
    in pages by row id: the rows behind one line of a usage report. ``project_ids`` limits what is visible."""
    query = select(usage_events)
    for name, value in filters.items():
        query = query.where(_COLUMNS[name] == value)
    if start is not None:
        query = query.where(usage_events.c.ts >= start)
    if end is not None:
        query = query.where(usage_events.c.ts < end)
    if project_ids is not None:
        query = query.where(usage_events.c.project_id.in_(list(project_ids)))
    if before_id is not None:
        query = query.where(usage_events.c.id < before_id)
    query = query.order_by(usage_events.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def health(
    engine: AsyncEngine,
    *,
    start: datetime,
    end: datetime,
    project_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per day of [start, end): every call (refused ones too), the errors (status ≥ 400), and the 95th percentile
    (nearest rank) of latency and time to first token. PostgreSQL computes the percentiles itself; SQLite has no
    percentile function, so each day's is read at its rank with one indexed query (embedded: days, not millions)."""
    day = _bucket(engine, "day")
    where = (usage_events.c.ts >= start) & (usage_events.c.ts < end)
    if project_ids is not None:
        where = where & usage_events.c.project_id.in_(list(project_ids))
    counts = [
        func.count().label("requests"),
        func.coalesce(func.sum(case((usage_events.c.status >= 400, 1), else_=0)), 0).label("errors"),
        func.count(usage_events.c.latency_ms).label("timed"),
        func.count(usage_events.c.ttft_ms).label("streamed"),
    ]
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        counts += [
            func.percentile_disc(0.95).within_group(usage_events.c.latency_ms).label("latency_p95_ms"),
            func.percentile_disc(0.95).within_group(usage_events.c.ttft_ms).label("ttft_p95_ms"),
        ]
    query = select(day.label("day"), *counts).where(where).group_by(day).order_by(day)
    async with engine.connect() as conn:
        rows = [dict(row) for row in (await conn.execute(query)).mappings()]
        if not postgres:
            for row in rows:
                in_day = where & (day == row["day"])
                for column, n, out in (
                    (usage_events.c.latency_ms, row["timed"], "latency_p95_ms"),
                    (usage_events.c.ttft_ms, row["streamed"], "ttft_p95_ms"),
                ):
                    rank = max(0, math.ceil(0.95 * n) - 1)
                    pick = select(column).where(in_day & column.is_not(None)).order_by(column).offset(rank).limit(1)
                    row[out] = (await conn.execute(pick)).scalar() if n else None
    for row in rows:
        del row["timed"], row["streamed"]
    return rows
