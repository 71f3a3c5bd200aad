"""Analytics from the hourly roll-ups (``rollup_tables.py``): the whole hours of the window come from the smallest
roll-up that has every dimension asked for, and the parts of an hour at either end of the window (a ``from`` or
``to`` that is not on the hour) from the ledger rows themselves, folded the same way. Sums are the ledger's to the
token and the nano-dollar; a p95 is the upper edge of the histogram bucket that holds the nearest-rank p95 (buckets
grow by 2^(1/3), ≈ 26 %: the value shown is never below the true p95 and at most 26 % above it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from math import ceil
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.store.rollup import fold, hour_of
from wardgate.store.rollup_tables import BOUNDS, DIMENSION_COLUMNS, HIST, LATENCY_COLUMNS, ROLLUP_TABLES, ROLLUPS, SUMS
from wardgate.store.rollup_tables import TTFT_COLUMNS as _TTFT
from wardgate.store.tables import usage_events

_WIDTH = len(SUMS)
_OUT = {"requests": 0, "errors": 1, "tokens_in": 2, "tokens_out": 3, "cost_nanousd": 6}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rollup_for(group_by: Sequence[str]) -> str | None:
    """The smallest roll-up holding every dimension of ``group_by`` (None: only the ledger has them)."""
    for name, dimensions in ROLLUPS.items():
        if set(group_by) <= set(dimensions):
            return name
    return None


def histogram_p95(histogram: Sequence[int]) -> int | None:
    """The upper edge of the bucket that holds the nearest-rank 95th percentile."""
    total = sum(histogram)
    if not total:
        return None
    rank, seen = ceil(0.95 * total), 0
    for i, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            return BOUNDS[i]
    return BOUNDS[-1]  # unreachable: the counts reach the total


@lru_cache(maxsize=4096)
def _label(bucket: int, interval: str) -> str:
    if interval == "day":
        return (_EPOCH + timedelta(days=bucket)).strftime("%Y-%m-%dT00:00:00Z")
    return (_EPOCH + timedelta(hours=bucket)).strftime("%Y-%m-%dT%H:00:00Z")


def _shown(name: str, value: Any) -> Any:
    if value == "" and DIMENSION_COLUMNS[name][1].startswith("text"):
        return None
    if DIMENSION_COLUMNS[name][1] == "bool":
        return bool(value)
    return value


async def from_rollup(
    conn: AsyncConnection,
    table_name: str,
    metrics: Sequence[str],
    group_by: Sequence[str],
    interval: str,
    *,
    start: datetime | None,
    end: datetime | None,
    project_ids: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """The same rows as the ledger query (``analytics.analytics``), from ``table_name`` and the window's edges."""
    table = ROLLUP_TABLES[table_name]
    p95 = [m for m in ("latency_p95", "ttft_p95") if m in metrics]
    hist = [*LATENCY_COLUMNS, *_TTFT] if p95 else []
    first = -(-int((start - _EPOCH).total_seconds()) // 3600) if start is not None else None  # the first whole hour
    stop = hour_of(end) if end is not None else None  # hours before it are whole
    merged: dict[tuple[Any, ...], list[int]] = {}
    if first is None or stop is None or first < stop:
        bucket = table.c.hour if interval == "hour" else table.c.hour // 24 if interval == "day" else None
        keys = ([bucket] if bucket is not None else []) + [table.c[DIMENSION_COLUMNS[d][0]] for d in group_by]
        query = select(*keys, *(func.sum(table.c[n]) for n in (*SUMS, *hist)))
        if first is not None:
            query = query.where(table.c.hour >= first)
        if stop is not None:
            query = query.where(table.c.hour < stop)
        if project_ids is not None:
            query = query.where(table.c.project_id.in_(list(project_ids)))
        if keys:
            query = query.group_by(*keys)
        width = len(keys)
        for row in (await conn.execute(query)).all():
            if row[width] is None or row[width] == 0:  # no group by, nothing in the window
                continue
            merged[tuple(row[:width])] = [int(v) for v in row[width:]]
    for low, high in _edges(start, end, first, stop):
        _fold_ledger(merged, await _ledger_rows(conn, low, high, project_ids), group_by, interval, hist)
    return _rows(merged, metrics, group_by, interval, p95, bool(hist))


def _edges(
    start: datetime | None, end: datetime | None, first: int | None, stop: int | None
) -> list[tuple[datetime, datetime]]:
    """The parts of the window that are not whole hours: [start, first hour) and [last whole hour, end)."""
    if start is not None and end is not None and (first is None or stop is None or first >= stop):
        return [(start, end)] if start < end else []
    edges = []
    if start is not None and first is not None and _EPOCH + timedelta(hours=first) > start:
        edges.append((start, _EPOCH + timedelta(hours=first)))
    if end is not None and stop is not None and _EPOCH + timedelta(hours=stop) < end:
        edges.append((_EPOCH + timedelta(hours=stop), end))
    return edges


async def _ledger_rows(
    conn: AsyncConnection, low: datetime, high: datetime, project_ids: Sequence[str] | None
) -> list[Any]:
    c = usage_events.c
    names = {DIMENSION_COLUMNS[d][0] for d in DIMENSION_COLUMNS}
    columns = [c[n] for n in sorted(names | {"ts"})]
    columns += [c.input_tokens, c.output_tokens, c.cached_tokens, c.reasoning_tokens, c.cost_nanousd]
    columns += [c.latency_ms, c.ttft_ms]
    columns = list({col.name: col for col in columns}.values())
    query = select(*columns).where((c.ts >= low) & (c.ts < high))
    if project_ids is not None:
        query = query.where(c.project_id.in_(list(project_ids)))
    return list((await conn.execute(query)).all())


def _fold_ledger(
    merged: dict[tuple[Any, ...], list[int]],
    rows: list[Any],
    group_by: Sequence[str],
    interval: str,
    hist: list[str],
) -> None:
    for folded in fold(rows, tuple(group_by)):
        hour, dims, values = folded[0], folded[1 : 1 + len(group_by)], folded[1 + len(group_by) :]
        bucket = (hour,) if interval == "hour" else (hour // 24,) if interval == "day" else ()
        key = (*bucket, *dims)
        values = values if hist else values[:_WIDTH]
        found = merged.get(key)
        if found is None:
            merged[key] = list(values)
        else:
            for i, v in enumerate(values):
                found[i] += v


def _rows(
    merged: dict[tuple[Any, ...], list[int]],
    metrics: Sequence[str],
    group_by: Sequence[str],
    interval: str,
    p95: list[str],
    with_hist: bool,
) -> list[dict[str, Any]]:
    if not merged and interval == "none" and not group_by:  # as SQL's aggregate over no rows: one row of zeros
        merged[()] = [0] * (_WIDTH + (2 * HIST if with_hist else 0))
    rows = []
    offset = 1 if interval != "none" else 0
    for key in sorted(merged):
        values = merged[key]
        row: dict[str, Any] = {"bucket": _label(key[0], interval)} if offset else {}
        for i, name in enumerate(group_by):
            row[name] = _shown(name, key[offset + i])
        for name, index in _OUT.items():
            row[name] = values[index]
        if "latency_p95" in p95:
            row["latency_p95"] = histogram_p95(values[_WIDTH : _WIDTH + HIST])
        if "ttft_p95" in p95:
            row["ttft_p95"] = histogram_p95(values[_WIDTH + HIST :])
        rows.append(row)
    return rows
