"""Batched inserts handed to the database driver as plain tuples.

SQLAlchemy's ``conn.execute(insert, list_of_dicts)`` rebuilds a parameter dict per row and runs every column's
processor through its generic execution context: for the usage ledger and the audit trail (one row per request each)
that was a tenth of a worker's CPU under load. Here the statement is compiled once per dialect, the column processors
that dialect needs (SQLite stores datetimes and JSON as text) are looked up once, and each row becomes one tuple for
the driver's ``executemany`` (``exec_driver_sql``): the same SQL and the same stored values, without the per-row
machinery.

On SQLite the rows go as one multi-row ``VALUES`` statement per chunk instead: ``executemany`` steps the statement
once per row and the driver releases and re-takes the GIL around every step, which made the writer thread and the
event loop trade the GIL (a futex call) once per row.

Rows are converted ``CHUNK`` at a time with the event loop free in between (issue 18: a 500-row batch converted in
one go held a worker's loop ~3 ms, and its 500-row statement's parameters were bound in the driver thread holding
the GIL for ~2 ms more; every request arriving meanwhile waited). On SQLite each chunk is its own statement, so the
driver thread binds at most ``CHUNK`` rows per GIL hold; elsewhere the converted chunks go in one ``executemany``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain, islice
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None
Converter = Callable[[Sequence[Any]], tuple[Any, ...]]
SQLITE_MAX_VARIABLES = 32766  # SQLite's default limit on host parameters per statement since 3.32
CHUNK = 100  # rows converted (and, on SQLite, bound) per step of the event loop: ~0.5 ms each
_VALUES = re.compile(r"^(?P<head>.*? VALUES )(?P<row>\([?, ]+\))(?P<tail>.*)$", re.DOTALL)


class DriverInsert:
    """``build(dialect_name)`` gives the INSERT; ``columns`` are the values each row supplies, in that order."""

    __slots__ = ("_build", "_columns", "_prepared", "_texts")

    def __init__(self, build: Callable[[str], Insert], columns: Sequence[str]) -> None:
        self._build = build
        self._columns = tuple(columns)
        self._prepared: dict[str, tuple[str, int, Converter]] = {}
        self._texts: dict[tuple[str, int], str] = {}  # multi-row statements by (single-row SQL, rows)

    def _prepare(self, dialect: Dialect) -> tuple[str, int, Converter]:
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
        """Insert ``rows`` (each a sequence of values in ``columns`` order), ``CHUNK`` rows per step of the loop."""
        sql, width, convert = self._prepare(conn.dialect)
        parts = _VALUES.match(sql) if conn.dialect.name == "sqlite" else None
        source = iter(rows)
        params: list[tuple[Any, ...]] = []
        chunk = CHUNK if parts is None else max(1, min(CHUNK, SQLITE_MAX_VARIABLES // max(1, width)))
        while True:
            step = [convert(row) for row in islice(source, chunk)]
            if not step:
                break
            if parts is None:  # one executemany at the end (PostgreSQL: one round trip)
                params += step
                if len(step) == chunk:
                    await asyncio.sleep(0)  # let the loop serve what is ready before the next chunk
            else:  # one statement per piece: its binding is the driver thread's only long GIL hold
                start = 0
                while start < len(step):
                    # pieces of 2^k rows: the driver caches a prepared statement per distinct SQL text (128 per
                    # connection, each up to ~1 MB for a wide multi-row INSERT), so batches of every size from 1 to
                    # 100 grew each pooled connection's memory by tens of MB; powers of two keep 7 texts
                    size = 1 << ((len(step) - start).bit_length() - 1)
                    piece = step[start : start + size]
                    start += size
                    if size == 1:
                        await conn.exec_driver_sql(sql, piece)
                    else:
                        await conn.exec_driver_sql(self._rows_sql(parts, size), tuple(chain.from_iterable(piece)))
        if params:
            await conn.exec_driver_sql(sql, params)


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
