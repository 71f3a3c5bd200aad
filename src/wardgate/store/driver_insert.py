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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None
SQLITE_MAX_VARIABLES = 32766  # SQLite's default limit on host parameters per statement since 3.32
_VALUES = re.compile(r"^(?P<head>.*? VALUES )(?P<row>\([?, ]+\))(?P<tail>.*)$", re.DOTALL)


class DriverInsert:
    """``build(dialect_name)`` gives the INSERT; ``columns`` are the values each row supplies, in that order."""

    __slots__ = ("_build", "_columns", "_prepared")

    def __init__(self, build: Callable[[str], Insert], columns: Sequence[str]) -> None:
        self._build = build
        self._columns = tuple(columns)
        self._prepared: dict[str, tuple[str, tuple[int, ...], tuple[Processor, ...]]] = {}

    def _prepare(self, dialect: Dialect) -> tuple[str, tuple[int, ...], tuple[Processor, ...]]:
        found = self._prepared.get(dialect.name)
        if found is None:
            statement = self._build(dialect.name).inline()  # no RETURNING: nothing is read back
            compiled = statement.compile(dialect=dialect, column_keys=list(self._columns))
            order = compiled.positiontup
            if order is None:  # every dialect Wardgate supports binds positionally (qmark, numeric_dollar)
                raise TypeError(f"{dialect.name}: positional parameters expected")
            where = {name: i for i, name in enumerate(self._columns)}
            positions = tuple(where[name] for name in order)
            processors = tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
            )
            found = (compiled.string, positions, processors)
            self._prepared[dialect.name] = found
        return found

    async def execute(self, conn: AsyncConnection, rows: Iterable[Sequence[Any]]) -> None:
        """Insert ``rows`` (each a sequence of values in ``columns`` order) in one ``executemany``."""
        sql, positions, processors = self._prepare(conn.dialect)
        if positions == tuple(range(len(positions))) and not any(processors):
            params: list[tuple[Any, ...]] = [tuple(row) for row in rows]
        else:
            steps = tuple(zip(positions, processors, strict=True))
            params = [tuple(row[i] if p is None else p(row[i]) for i, p in steps) for row in rows]
        if not params:
            return
        if conn.dialect.name != "sqlite" or len(params) == 1:
            await conn.exec_driver_sql(sql, params)
            return
        parts = _VALUES.match(sql)
        if parts is None:  # not a plain INSERT … VALUES (…): row by row
            await conn.exec_driver_sql(sql, params)
            return
        width = len(positions)
        chunk = max(1, min(500, SQLITE_MAX_VARIABLES // max(1, width)))
        head, row, tail = parts["head"], parts["row"], parts["tail"]
        for start in range(0, len(params), chunk):
            rows = params[start : start + chunk]
            flat = tuple(value for one in rows for value in one)
            await conn.exec_driver_sql(head + ", ".join([row] * len(rows)) + tail, flat)
