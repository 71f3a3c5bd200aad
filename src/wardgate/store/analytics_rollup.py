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
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, cast, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.store.rollup import fold, hour_of
from wardgate.store.rollup_p95 import HISTOGRAMS, grouped, per_row
from wardgate.store.rollup_tables import BOUNDS, DIMENSION_COLUMNS, HIST, ROLLUP_TABLES, ROLLUPS, SUMS
from wardgate.store.tables import usage_events

_WIDTH = len(SUMS)
_OUT = {"requests": 0, "errors": 1, "tokens_in": 2, "tokens_out": 3, "cost_nanousd": 6}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WORK_MEM = "64MB"  # PostgreSQL's default 4 MB spills the group-by of a month's hours to disk (admin queries only)


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
) -> tuple[list[str], list[list[Any]]]:
    """The same rows as the ledger query (``analytics.analytics_rows``), from ``table_name`` and the window's edges:
    the column names and one list of values a row, in order, ready to serialise."""
    p95 = [m for m in HISTOGRAMS if m in metrics]
    first = -(-int((start - _EPOCH).total_seconds()) // 3600) if start is not None else None  # the first whole hour
    stop = hour_of(end) if end is not None else None  # hours before it are whole
    edges = _edges(start, end, first, stop)
    # a daily or whole-window bucket that an edge shares with whole hours needs their histograms (rare, few rows);
    # an hourly one never does: the edges are hours of their own
    hist = [name for m in p95 for name in HISTOGRAMS[m]] if edges and interval != "hour" else []
    found: list[Any] = []
    width = (interval != "none") + len(group_by)
    if first is None or stop is None or first < stop:
        parameters: dict[str, Any] = {"first": first, "stop": stop}
        parameters |= {f"project_{i}": project for i, project in enumerate(project_ids or ())}
        window = (first is not None, stop is not None, None if project_ids is None else len(project_ids))
        if conn.dialect.name == "postgresql":
            # a month of hours by two dimensions is ~35k groups: hash them in memory; no JIT (compiling the p95s'
            # expressions takes longer than running them) and no parallel workers (they would ship every roll-up row)
            settings = f"'work_mem', '{WORK_MEM}', true), set_config('jit', 'off', true), set_config("
            await conn.execute(text(f"SELECT set_config({settings}'max_parallel_workers_per_gather', '0', true)"))
        found = await _whole_hours(conn, table_name, parameters, window, tuple(group_by), interval, p95, hist)
        if not width:  # no group by: one row, of nulls when nothing is in the window
            found = [row for row in found if row[width]]
    if edges:  # the parts of an hour at the window's ends: fold the ledger rows into the roll-up's
        ends: dict[tuple[Any, ...], list[int]] = {}
        for low, high in edges:
            _fold_ledger(ends, await _ledger_rows(conn, low, high, project_ids), group_by, interval, p95)
        if hist:  # sum with the whole hours' histograms, then the p95s
            merged = {tuple(row[:width]): list(row[width:]) for row in found}
            for key, values in ends.items():
                known = merged.get(key)
                merged[key] = values if known is None else [a + b for a, b in zip(known, values, strict=True)]
            ends, found = merged, []
        found += [(*key, *_p95_row(values, len(p95))) for key, values in ends.items()]
        found.sort(key=lambda row: tuple(row[:width]))  # SQL's order, for the whole hours
    if not found and interval == "none" and not group_by:  # as SQL's aggregate over no rows: one row of zeros
        found = [(0,) * _WIDTH + (None,) * len(p95)]
    return shape(found, metrics, group_by, interval)


Window = tuple[bool, bool, int | None]  # a first hour, a stop hour, how many projects (None: all)
Statement = tuple[str, tuple[str, ...], dict[str, Any]]  # SQL, its parameters' names in order, their defaults


async def _whole_hours(
    conn: AsyncConnection,
    table_name: str,
    values: dict[str, Any],
    window: Window,
    group_by: tuple[str, ...],
    interval: str,
    p95: list[str],
    hist: list[str],
) -> list[Any]:
    """Rows ``(*keys, *SUMS, *p95s)`` over the whole hours, ordered by key (``(*keys, *SUMS, *histograms)`` with
    ``hist``)."""
    shape = (conn.dialect, table_name, group_by, interval, tuple(p95), tuple(hist), window)
    if not (p95 and not hist and interval == "hour"):
        return await _fetch(conn, _statement("grouped" if p95 and not hist else "sums", *shape), values)
    # each roll-up row's p95s; summed histograms only where rows share a group
    found = await _fetch(conn, _statement("per_row", *shape), values)
    width = 1 + len(group_by)
    previous, shared = None, set()
    for row in found:  # a group of several roll-up rows comes as consecutive rows
        key = tuple(row[:width])
        if key == previous:
            shared.add(key)
        previous = key
    if shared:
        summed = {tuple(row[:width]): row for row in await _fetch(conn, _statement("shared", *shape), values)}
        runs, previous = [], None
        for row in found:
            key = tuple(row[:width])
            if key not in shared:
                runs.append(row)
            elif key != previous:
                runs.append(summed[key])
            previous = key
        found = runs
    return found


@lru_cache(maxsize=256)
def _statement(
    kind: str,
    dialect: Dialect,
    table_name: str,
    group_by: tuple[str, ...],
    interval: str,
    p95: tuple[str, ...],
    hist: tuple[str, ...],
    window: Window,
) -> Statement:
    """The roll-up query of ``kind`` compiled once per shape (building and compiling the p95s' expressions took
    ~50 ms of CPU): ``per_row`` / ``shared`` / ``grouped`` (rollup_p95.py), or ``sums`` (with the ``hist``
    columns summed). Parameters: ``first``, ``stop``, ``project_<i>``."""
    table = ROLLUP_TABLES[table_name]
    has_first, has_stop, projects = window
    where = [table.c.hour >= bindparam("first", type_=BigInteger)] if has_first else []
    where += [table.c.hour < bindparam("stop", type_=BigInteger)] if has_stop else []
    if projects is not None:
        where.append(table.c.project_id.in_([bindparam(f"project_{i}", type_=String) for i in range(projects)]))
    dimensions = [DIMENSION_COLUMNS[d][0] for d in group_by]
    bucket = table.c.hour if interval == "hour" else table.c.hour // 24 if interval == "day" else None
    keys = ([("bucket", bucket)] if bucket is not None else []) + [(name, table.c[name]) for name in dimensions]
    name = dialect.name
    if kind == "per_row":
        query = per_row(table, ["hour", *dimensions], where, p95, dialect=name)
    elif kind in ("grouped", "shared"):
        query = grouped(table, keys, where, p95, dialect=name, only_shared=kind == "shared")
    else:
        plain = [expression for _, expression in keys]
        # sums of BIGINT are NUMERIC on PostgreSQL (Decimal in Python): cast back, no per-value conversion after
        query = select(*plain, *(cast(func.sum(table.c[n]), BigInteger) for n in (*SUMS, *hist))).where(*where)
        if plain:
            query = query.group_by(*plain).order_by(*plain)
    compiled = query.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)


async def _fetch(conn: AsyncConnection, statement: Statement, values: dict[str, Any]) -> list[Any]:
    """The rows as the driver gives them (asyncpg's records, sqlite3's tuples), in the connection's transaction:
    tens of thousands of rows of integers and text need none of SQLAlchemy's per-row work (a Row each, result
    processors), which took ~70 ms of CPU for the 34,560 rows of a month of hours."""
    sql, names, defaults = statement
    parameters = [values[name] if name in values else defaults[name] for name in names]
    driver: Any = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.driver == "asyncpg":  # in the transaction the SET LOCALs began
        return list(await driver.fetch(sql, *parameters))
    if conn.dialect.driver == "aiosqlite":
        cursor = await driver.execute(sql, parameters)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()
    return list((await conn.exec_driver_sql(sql, tuple(parameters))).all())


def _p95_row(values: Sequence[int], p95s: int) -> tuple[Any, ...]:
    """``(*SUMS, *histograms)`` as ``(*SUMS, *p95s)``."""
    sums = tuple(values[:_WIDTH])
    return sums + tuple(histogram_p95(values[_WIDTH + i * HIST : _WIDTH + (i + 1) * HIST]) for i in range(p95s))


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
    p95: Sequence[str],
) -> None:
    """Add ``rows`` (ledger rows) to ``merged``: ``(*SUMS, *the histograms of p95)`` per key."""
    at = {"latency_p95": _WIDTH, "ttft_p95": _WIDTH + HIST}  # where fold puts each histogram
    for folded in fold(rows, tuple(group_by)):
        hour, dims, values = folded[0], folded[1 : 1 + len(group_by)], folded[1 + len(group_by) :]
        bucket = (hour,) if interval == "hour" else (hour // 24,) if interval == "day" else ()
        key = (*bucket, *dims)
        values = values[:_WIDTH] + [v for m in p95 for v in values[at[m] : at[m] + HIST]]
        found = merged.get(key)
        if found is None:
            merged[key] = values
        else:
            for i, v in enumerate(values):
                found[i] += v


def columns(metrics: Sequence[str], group_by: Sequence[str], interval: str) -> list[str]:
    """The answer's column names: ``bucket`` unless ``interval`` is none, the dimensions, then the metrics
    (``spend_usd`` comes with ``cost_nanousd``)."""
    names = (["bucket"] if interval != "none" else []) + list(group_by)
    for metric in metrics:
        names += ["spend_usd", "cost_nanousd"] if metric == "spend_usd" else [metric]
    return names


def shape(
    found: Sequence[Sequence[Any]], metrics: Sequence[str], group_by: Sequence[str], interval: str
) -> tuple[list[str], list[list[Any]]]:
    """Rows ``(bucket?, *dimensions, *SUMS, *p95s)`` (the p95s of ``metrics``, in ``HISTOGRAMS`` order) as the
    answer's rows (``columns``): one C-level pick of the values a row, the dollars formatted inline."""
    offset = 1 if interval != "none" else 0
    width = offset + len(group_by)
    kinds = [DIMENSION_COLUMNS[name][1] for name in group_by]
    texts = [offset + i for i, kind in enumerate(kinds) if kind.startswith("text")]  # '' stored for null
    flags = [offset + i for i, kind in enumerate(kinds) if kind == "bool"]  # 0 / 1 on SQLite
    p95 = [m for m in HISTOGRAMS if m in metrics]
    picks: list[tuple[str, int]] = []
    for metric in metrics:
        if metric == "spend_usd":
            picks.append(("usd", width + _OUT["cost_nanousd"]))
        elif metric in _OUT:
            picks.append(("int", width + _OUT[metric]))
        else:
            picks.append(("int", width + _WIDTH + p95.index(metric)))
    indices = [i for kind, i in picks for i in ((i, i) if kind == "usd" else (i,))]
    cut = len(indices)  # itemgetter of one index gives the value, not a tuple: pick it twice, keep one
    pick = itemgetter(*indices, *indices[:1]) if cut == 1 else itemgetter(*indices) if cut else (lambda raw: ())
    dollars = [
        width + sum(2 if k == "usd" else 1 for k, _ in picks[:n]) for n, (k, _) in enumerate(picks) if k == "usd"
    ]
    labels: dict[int, str] = {}
    rows = []
    for raw in found:
        row = [*raw[:width], *pick(raw)[:cut]]
        if offset:
            bucket = row[0]
            label = labels.get(bucket)
            if label is None:
                label = labels[bucket] = _label(bucket, interval)
            row[0] = label
        for i in texts:
            if row[i] == "":
                row[i] = None
        for i in flags:
            row[i] = bool(row[i])
        for i in dollars:
            digits = str(row[i])  # dollars from the digits: ~0.25 µs a value against ~0.6 for two divisions
            if len(digits) > 9 and digits[0] != "-":
                row[i] = digits[:-9] + "." + digits[-9:]
            else:
                row[i] = usd(row[i])
        rows.append(row)
    return columns(metrics, group_by, interval), rows


def usd(nanousd: int) -> str:
    """123456789 → "0.123456789": exact, with no float in between."""
    sign = "-" if nanousd < 0 else ""
    whole, frac = divmod(abs(nanousd), 1_000_000_000)
    return f"{sign}{whole}.{frac:09d}"
