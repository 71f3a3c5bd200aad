"""Keeping the hourly roll-ups (``rollup_tables.py``) equal to the ledger.

The ledger's batch writer adds each batch to every roll-up in the transaction that inserts the batch's rows
(``add_events``): a roll-up row holds exactly the ledger rows of its hour and dimensions, whatever commits or rolls
back. Each batch is folded in Python first (one upsert row per hour and combination), and the upserts add to the
stored sums (``ON CONFLICT … DO UPDATE SET n = n + excluded.n``) in key order, so several replicas writing the same
hour wait on each other's row locks and never deadlock or lose an increment.

``backfill`` rebuilds the roll-ups from the ledger in SQL (the migration that creates them, and bench/analytics.py,
which seeds millions of ledger rows in SQL).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from wardgate.store.driver_insert import CHUNK, DriverInsert
from wardgate.store.rollup_tables import (
    BOUNDS,
    DIMENSION_COLUMNS,
    HIST,
    LATENCY_COLUMNS,
    ROLLUP_TABLES,
    ROLLUPS,
    SUMS,
    TTFT_COLUMNS,
    key_columns,
)
from wardgate.store.tables import usage_events

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = HIST - 1


def bucket_of(value_ms: int) -> int:
    """The histogram bucket of a latency or TTFT in ms."""
    return min(bisect_left(BOUNDS, value_ms), _LAST)


def hour_of(ts: datetime) -> int:
    """Whole hours since the epoch (a naive time is UTC, as SQLite gives it back)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int((ts - _EPOCH).total_seconds()) // 3600


def _upsert(table_name: str) -> DriverInsert:
    table = ROLLUP_TABLES[table_name]
    keys = key_columns(ROLLUPS[table_name])
    values = [*SUMS, *LATENCY_COLUMNS, *TTFT_COLUMNS]

    def build(dialect: str) -> Insert:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(table)  # type: ignore[assignment]
        excluded = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=keys, set_={name: table.c[name] + excluded[name] for name in values}
        )

    return DriverInsert(build, [*keys, *values])


_UPSERTS = {name: _upsert(name) for name in ROLLUPS}
_LEDGER_NAMES = {name: DIMENSION_COLUMNS[name][0] for name in DIMENSION_COLUMNS}


def fold(events: Sequence[Any], dimensions: tuple[str, ...]) -> list[list[Any]]:
    """One upsert row per (hour, dimensions) of ``events`` (ledger events or rows: anything with the ledger's
    attribute names), sorted by key: ``[hour, *dimensions, *SUMS, *latency histogram, *TTFT histogram]``."""
    return _fold(_facts(events), events, dimensions)


def _facts(events: Sequence[Any]) -> list[tuple[int, int, int, int, int, int, int, int, int]]:
    """What every roll-up adds of each event, worked out once per batch: its hour, error flag, token and cost sums,
    and its latency and TTFT buckets (-1: none)."""
    facts = []
    cache: dict[datetime, int] = {}  # a batch's events share a handful of timestamps' hours: skip the arithmetic
    for e in events:
        ts = e.ts
        hour = cache.get(ts)
        if hour is None:
            hour = cache[ts] = hour_of(ts)
        latency, ttft = e.latency_ms, e.ttft_ms
        facts.append(
            (
                hour,
                1 if e.status >= 400 else 0,
                e.input_tokens,
                e.output_tokens,
                e.cached_tokens,
                e.reasoning_tokens,
                e.cost_nanousd,
                -1 if latency is None else bucket_of(latency),
                -1 if ttft is None else bucket_of(ttft),
            )
        )
    return facts


Folded = dict[tuple[Any, ...], list[int]]


def _fold(
    facts: Sequence[tuple[int, int, int, int, int, int, int, int, int]],
    events: Sequence[Any],
    dimensions: tuple[str, ...],
) -> list[list[Any]]:
    folded: Folded = {}
    _fold_into(folded, facts, events, dimensions)
    return _rows(folded)


def _rows(folded: Folded) -> list[list[Any]]:
    return [[*key, *values] for key, values in sorted(folded.items())]


def _fold_into(
    folded: Folded,
    facts: Sequence[tuple[int, int, int, int, int, int, int, int, int]],
    events: Sequence[Any],
    dimensions: tuple[str, ...],
) -> None:
    getter = attrgetter(*(_LEDGER_NAMES[name] for name in dimensions)) if dimensions else None
    width = len(SUMS)
    ttft_at = width + HIST
    for (hour, error, inputs, outputs, cached, reasoning, cost, latency, ttft), e in zip(facts, events, strict=True):
        if getter is None:
            key: tuple[Any, ...] = (hour,)
        else:
            values = getter(e)
            if len(dimensions) == 1:
                values = (values,)
            if None in values:  # a missing dimension is stored as ''
                values = tuple("" if v is None else v for v in values)
            key = (hour, *values)
        row = folded.get(key)
        if row is None:
            row = folded[key] = [0] * (width + 2 * HIST)
        row[0] += 1
        row[1] += error
        row[2] += inputs
        row[3] += outputs
        row[4] += cached
        row[5] += reasoning
        row[6] += cost
        if latency >= 0:
            row[width + latency] += 1
        if ttft >= 0:
            row[ttft_at + ttft] += 1


async def add_events(conn: AsyncConnection, events: Sequence[Any]) -> None:
    """Add ``events`` (rows the same transaction inserts into the ledger) to every roll-up. Folded ``CHUNK`` events
    per step of the event loop (a 500-event batch folded in one go held it ~2.5 ms)."""
    if not events:
        return
    facts: list[tuple[int, int, int, int, int, int, int, int, int]] = []
    for start in range(0, len(events), CHUNK):
        if start:
            await asyncio.sleep(0)
        facts += _facts(events[start : start + CHUNK])
    for name, dimensions in ROLLUPS.items():
        folded: Folded = {}
        for start in range(0, len(events), CHUNK):
            if start:
                await asyncio.sleep(0)
            _fold_into(folded, facts[start : start + CHUNK], events[start : start + CHUNK], dimensions)
        await _UPSERTS[name].execute(conn, _rows(folded))


def _hour_sql(dialect: str) -> Any:
    ts = usage_events.c.ts
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", ts) / 3600), BigInteger)
    return cast(func.strftime("%s", ts), Integer) // 3600


def _bucket_sql(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":  # the number of bounds below the value: width_bucket over them, in C
        from sqlalchemy.dialects.postgresql import array

        return func.least(func.width_bucket(column - 1, array(list(BOUNDS))), _LAST)
    whens = [(column <= bound, literal(i)) for i, bound in enumerate(BOUNDS[:-1])]
    return case(*whens, else_=literal(_LAST))


def backfill_statements(dialect: str) -> list[Any]:
    """``INSERT INTO <roll-up> SELECT …`` from the whole ledger, one per roll-up (into empty roll-ups)."""
    c = usage_events.c
    inner = select(
        _hour_sql(dialect).label("hour"),
        *(c[_LEDGER_NAMES[name]].label(_LEDGER_NAMES[name]) for name in DIMENSION_COLUMNS),
        c.status,
        c.input_tokens,
        c.output_tokens,
        c.cached_tokens,
        c.reasoning_tokens,
        c.cost_nanousd,
        case((c.latency_ms.is_(None), literal(-1)), else_=_bucket_sql(c.latency_ms, dialect)).label("lat_b"),
        case((c.ttft_ms.is_(None), literal(-1)), else_=_bucket_sql(c.ttft_ms, dialect)).label("ttft_b"),
    ).subquery("ledger")
    r = inner.c
    statements = []
    for name, dimensions in ROLLUPS.items():
        table = ROLLUP_TABLES[name]
        dims = [
            r[_LEDGER_NAMES[d]]
            if DIMENSION_COLUMNS[d][1] in ("bool", "int")
            else func.coalesce(r[_LEDGER_NAMES[d]], "")
            for d in dimensions
        ]
        sums = [
            func.count(),
            func.sum(case((r.status >= 400, 1), else_=0)),
            func.sum(r.input_tokens),
            func.sum(r.output_tokens),
            func.sum(r.cached_tokens),
            func.sum(r.reasoning_tokens),
            func.sum(r.cost_nanousd),
        ]
        hist = [func.sum(case((r.lat_b == i, 1), else_=0)) for i in range(HIST)]
        hist += [func.sum(case((r.ttft_b == i, 1), else_=0)) for i in range(HIST)]
        query = select(r.hour, *dims, *sums, *hist).group_by(r.hour, *dims)
        columns = [*key_columns(dimensions), *SUMS, *LATENCY_COLUMNS, *TTFT_COLUMNS]
        statements.append(table.insert().from_select(columns, query))
    return statements


async def backfill(conn: AsyncConnection) -> None:
    """Rebuild every roll-up from the ledger (empties them first)."""
    for table in ROLLUP_TABLES.values():
        await conn.execute(table.delete())
    for statement in backfill_statements(conn.dialect.name):
        await conn.execute(statement)
