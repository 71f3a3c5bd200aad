"""Opening the store: URL normalisation, SQLite pragmas, migrations that several replicas may run at once."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from wardgate.store.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

DEFAULT_URL = "sqlite:///wardgate.db"
_MIGRATIONS = str(Path(__file__).with_name("migrations"))
_PG_MIGRATION_LOCK = 0x57415244  # "WARD": one advisory lock id for every replica


# connections a worker keeps to a SQLite file. Each is an aiosqlite thread, its page cache, its parsed schema and its
# statement caches: ~7 MiB of RSS a connection once used (issue 15, point 2: 10 connections held a worker at ~183 MiB
# under the soak of bench/http_soak.py, 4 at ~128 MiB, for the same requests a second). SQLite runs one writer at a
# time and the hot path reads through caches: 4 leave a flush writing and three reads going at once
SQLITE_POOL = 4


def async_url(url: str) -> str:
    """`postgresql://…` → asyncpg, `sqlite:///…` → aiosqlite; an explicit driver is kept."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def _sqlite_file(url: str) -> bool:
    """A SQLite database in a file (one in memory gets SQLAlchemy's static pool: one connection)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return False
    return parsed.database not in (None, "", ":memory:") and parsed.query.get("mode") != "memory"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str = DEFAULT_URL) -> AsyncEngine:
    target = async_url(url)
    kwargs: dict[str, Any] = {}
    if target.startswith("postgresql"):
        # bounded waits: an unreachable database or a full pool is a 503 in seconds, not a request hung for a minute
        kwargs.update(pool_size=5, max_overflow=5, pool_pre_ping=True, pool_timeout=5, connect_args={"timeout": 5})
    elif _sqlite_file(target):
        # a fixed pool: SQLAlchemy's default (5, and 10 more opened and closed on demand) made a busy worker open a
        # connection, its driver thread and its page cache, and throw them away, many times a second; the memory
        # freed in those threads' malloc arenas stayed in RSS in swings of 10-30 MiB (issue 15, point 2)
        kwargs.update(pool_size=SQLITE_POOL, max_overflow=0, pool_timeout=10)
    engine = create_async_engine(target, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig  # alembic loads only to migrate: ~0.3 s, ~10 MiB a worker

    config = AlembicConfig()
    config.set_main_option("script_location", _MIGRATIONS)
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration. Forward-only; safe when several replicas start together:
    PostgreSQL serialises them with an advisory lock, SQLite with a lock file beside the database."""
    if await current_revision(engine) == HEAD:
        return
    if is_sqlite(engine):
        database = engine.url.database
        if database and database != ":memory:":
            await asyncio.to_thread(_with_file_lock, database + ".migrate-lock", engine)
            return
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _PG_MIGRATION_LOCK})
        try:
            await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            if engine.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_MIGRATION_LOCK})
                await connection.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's migration, or None when it has none yet (a new database)."""
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:
        return None


def _with_file_lock(lock_path: str, engine: AsyncEngine) -> None:
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        asyncio.run(_upgrade_unlocked(engine.url.render_as_string(hide_password=False)))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def _upgrade_unlocked(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade)
            await connection.commit()
    finally:
        await engine.dispose()
