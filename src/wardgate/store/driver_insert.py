"""Batched inserts handed to the database driver as plain tuples.

SQLAlchemy's ``conn.execute(insert, list_of_dicts)`` rebuilds a parameter dict per row and runs every column's
processor through its generic execution context: for the usage ledger and the audit trail (one row per request each)
that was a tenth of a worker's CPU under load. Here the statement is compiled once per dialect, the column processors
that dialect needs (SQLite stores datetimes and JSON as text) are looked up once, and each row becomes one tuple for
the driver's ``executemany`` (``exec_driver_sql``): the same SQL and the same stored values, without the per-row
machinery.

On SQLite the rows go as multi-row ``VALUES`` statements instead: ``executemany`` steps the statement
once per row and the driver releases and re-takes the GIL around every step, which made the writer thread and the
event loop trade the GIL (a futex call) once per row.

Rows are converted ``CHUNK`` at a time with the event loop free in between (issue 18: a 500-row batch converted in
one go held a worker's loop ~3 ms, and its 500-row statement's parameters were bound in the driver thread holding
the GIL for ~2 ms more; every request arriving meanwhile waited). On SQLite the rows go in statements of at most
``PIECE`` rows, so the driver thread binds at most that many rows per GIL hold; elsewhere the converted chunks go in
one ``executemany``.

On SQLite (aiosqlite) the statements of one call also go to the driver's thread in one hand-over, not three per
statement (SQLAlchemy's adapter makes a cursor, executes and closes it, each a round trip to that thread). Every
round trip is a moment the thread needs the GIL: while the loop is busy it waits the switch interval, then forces
the loop to hand the GIL over and to wait until the thread has been scheduled and is done with it (issue 18, done
when 7: after the bench probe's own thread, those hand-overs were the largest share of a worker's loop waiting for
the GIL at half the peak rate; ``bench/mcp/gil_handoffs.py``, decision 053). Errors come out as SQLAlchemy's, as
through ``exec_driver_sql``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None
Converter = Callable[[Sequence[Any]], tuple[Any, ...]]
SQLITE_MAX_VARIABLES = 32766  # SQLite's default limit on host parameters per statement since 3.32
CHUNK = 100  # rows converted per step of the event loop: ~0.5 ms each
PIECE = 64  # at most this many rows per SQLite statement (bound by the driver thread in one GIL hold): a power of 2
Piece = tuple[str, Sequence[Any]]  # a statement's SQL text and its parameters
EVERY: list[DriverInsert] = []  # each one made (module-level statements: the ledger, its roll-ups, the audit trail)


def prepare_every(dialect: Dialect) -> None:
    """Compile every statement for ``dialect`` now: a worker does it at start-up, not in its first flush under
    traffic (the roll-ups' upserts of 140 columns take tens of ms each to compile, all that time holding the loop)."""
    for insert in EVERY:
        insert.prepare(dialect)


_VALUES = re.compile(r"^(?P<head>.*? VALUES )(?P<row>\([?, ]+\))(?P<tail>.*)$", re.DOTALL)


class DriverInsert:
    """``build(dialect_name)`` gives the INSERT; ``columns`` are the values each row supplies, in that order."""

    __slots__ = ("_build", "_columns", "_prepared", "_texts")

    def __init__(self, build: Callable[[str], Insert], columns: Sequence[str]) -> None:
        self._build = build
        self._columns = tuple(columns)
        self._prepared: dict[str, tuple[str, int, Converter]] = {}
        self._texts: dict[tuple[str, int], str] = {}  # multi-row statements by (single-row SQL, rows)
        EVERY.append(self)

    def prepare(self, dialect: Dialect) -> tuple[str, int, Converter]:
        found = self._prepared.get(dialect.name)
        if found is None:
            statement = self._build(dialect.name).inline()  # no RETURNING: nothing is read back
            compiled = statement.compile(dialect=dialect, column_keys=list(self._columns))
            order = compiled.positiontup
            if order is None:  # every dialect Wardgate supports binds positionally (qmark, numeric_dollar)
                raise TypeError(f"{dialect.name}: positional parameters expected")
            where = {name: i for i, name in enumerate(self._columns)}
            steps = [(where[name], _processor(compiled.binds[name].type, dialect)) for name in order]
            found = (compiled.string, len(steps), _converter(steps))
            self._prepared[dialect.name] = found
        return found

    def _rows_sql(self, parts: re.Match[str], size: int) -> str:
        text = self._texts.get((parts.string, size))
        if text is None:
            text = self._texts[(parts.string, size)] = _multi_row(parts, size)
        return text

    async def execute(self, conn: AsyncConnection, rows: Iterable[Sequence[Any]]) -> None:
        """Insert ``rows`` (each a sequence of values in ``columns`` order), converted ``CHUNK`` rows per step of the
        loop."""
        sql, width, convert = self.prepare(conn.dialect)
        parts = _VALUES.match(sql) if conn.dialect.name == "sqlite" else None
        piece = max(1, min(PIECE, SQLITE_MAX_VARIABLES // max(1, width)))
        source = iter(rows)
        params: list[tuple[Any, ...]] = []  # converted rows not yet in a piece (all of them elsewhere than SQLite)
        pieces: list[Piece] = []
        while True:
            step = [convert(row) for row in islice(source, CHUNK)]
            params += step
            if parts is not None:
                while len(params) >= piece:
                    pieces.append(self._piece(sql, parts, params[:piece]))
                    del params[:piece]
            if len(step) < CHUNK:
                break
            await asyncio.sleep(0)  # let the loop serve what is ready before the next chunk
        if parts is None:
            if params:  # one executemany (PostgreSQL: one round trip)
                await conn.exec_driver_sql(sql, params)
            return
        while params:  # the rest in pieces of 2^k rows: the driver caches a prepared statement per distinct SQL text
            # (128 per connection, each up to ~1 MB for a wide multi-row INSERT), so batches of every size from 1
            # to 100 once grew each pooled connection's memory by tens of MB; powers of two keep 7 texts
            size = 1 << (len(params).bit_length() - 1)
            pieces.append(self._piece(sql, parts, params[:size]))
            del params[:size]
        if pieces:
            await _run_pieces(conn, pieces)

    def _piece(self, sql: str, parts: re.Match[str], rows: list[tuple[Any, ...]]) -> Piece:
        if len(rows) == 1:
            return sql, rows[0]
        return self._rows_sql(parts, len(rows)), tuple(chain.from_iterable(rows))


async def _run_pieces(conn: AsyncConnection, pieces: Sequence[Piece]) -> None:
    """Run ``pieces`` in order, in the connection's transaction: on aiosqlite in one call on its thread, otherwise
    (another SQLite driver) one ``exec_driver_sql`` each."""
    import aiosqlite  # SQLite's driver: loaded only where SQLite is the store

    driver = (await conn.get_raw_connection()).driver_connection
    if not isinstance(driver, aiosqlite.Connection):
        for text, values in pieces:
            await conn.exec_driver_sql(text, values)
        return
    done = [0]
    try:  # aiosqlite's own hand-over to its thread (a private method; the version is pinned in constraints.txt)
        await driver._execute(_execute_all, driver, pieces, done)  # type: ignore[no-untyped-call]
    except sqlite3.Error as exc:  # as SQLAlchemy raises it through exec_driver_sql (IntegrityError, …)
        text, values = pieces[min(done[0], len(pieces) - 1)]
        raise DBAPIError.instance(text, values, exc, sqlite3.Error, dialect=conn.dialect) from exc


def _execute_all(driver: Any, pieces: Sequence[Piece], done: list[int]) -> None:
    """On the driver's thread: each statement binds (holding the GIL) then steps (without it)."""
    cursor = driver._conn.cursor()
    try:
        for text, values in pieces:
            cursor.execute(text, values)
            done[0] += 1
    finally:
        cursor.close()


def _multi_row(parts: re.Match[str], size: int) -> str:
    return parts["head"] + ", ".join([parts["row"]] * size) + parts["tail"]


def _converter(steps: Sequence[tuple[int, Processor]]) -> Converter:
    """One function turning a row into the driver's tuple: the values in bind order, each through its processor.
    Generated once per statement and dialect (a loop over the columns per row cost more than the insert itself);
    its source holds only indexes and the names of the processors."""
    scope: dict[str, Any] = {}
    parts = []
    for index, processor in steps:
        if processor is None:
            parts.append(f"r[{index}]")
        else:
            name = f"p{len(scope)}"
            scope[name] = processor
            parts.append(f"{name}(r[{index}])")
    return eval(f"lambda r: ({', '.join(parts)},)", scope)  # type: ignore[no-any-return]  # noqa: S307


def _processor(column_type: Any, dialect: Dialect) -> Processor:
    """The dialect's bind processor for ``column_type``, or an equivalent that stores the same value faster for the
    common cases (SQLAlchemy's run a generic path per value: a third of the ledger writer's CPU)."""
    processor: Processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    generic = processor
    if isinstance(column_type, JSON):  # SQLAlchemy stores None as the JSON text 'null' (none_as_null is off)
        none = generic(None)
        if isinstance(none, str):  # the driver takes JSON as text: orjson's (~10x the speed of json.dumps)
            return lambda value: none if value is None else _json_text(value, generic)
        return lambda value: none if value is None else generic(value)
    if isinstance(column_type, Boolean) and dialect.name == "sqlite":  # 0/1; anything else: the strict generic way
        return lambda value: 1 if value is True else 0 if value is False else generic(value)
    if isinstance(column_type, DateTime) and dialect.name == "sqlite":
        return lambda value: value.isoformat(" ", "microseconds")[:26] if type(value) is datetime else generic(value)
    return processor


def _json_text(value: Any, generic: Callable[[Any], Any]) -> Any:
    """``value`` as compact JSON text; what orjson cannot encode (integers past 64 bits, non-string keys, odd types)
    the generic serializer does."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return generic(value)
