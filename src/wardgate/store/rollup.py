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

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from wardgate.store.driver_insert import DriverInsert
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


def _stored(value: Any) -> Any:
    return "" if value is None else value


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
    attributes = [_LEDGER_NAMES[name] for name in dimensions]
    width = len(SUMS)
    folded: dict[tuple[Any, ...], list[int]] = {}
    for e in events:
        key = (hour_of(e.ts), *(_stored(getattr(e, a)) for a in attributes))
        row = folded.get(key)
        if row is None:
            row = folded[key] = [0] * (width + 2 * HIST)
        row[0] += 1
        row[1] += e.status >= 400
        row[2] += e.input_tokens
        row[3] += e.output_tokens
        row[4] += e.cached_tokens
        row[5] += e.reasoning_tokens
        row[6] += e.cost_nanousd
        if e.latency_ms is not None:
            row[width + bucket_of(e.latency_ms)] += 1
        if e.ttft_ms is not None:
            row[width + HIST + bucket_of(e.ttft_ms)] += 1
    return [[*key, *values] for key, values in sorted(folded.items())]


async def add_events(conn: AsyncConnection, events: Sequence[Any]) -> None:
    """Add ``events`` (rows the same transaction inserts into the ledger) to every roll-up."""
    if not events:
        return
    for name, dimensions in ROLLUPS.items():
        await _UPSERTS[name].execute(conn, fold(events, dimensions))


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
