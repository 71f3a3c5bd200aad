"""The audit chain on both backends: appends verify; any edit or deletion is found."""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store import audit
from wardgate.store.audit import AuditEntry
from wardgate.store.engine import upgrade
from wardgate.store.tables import audit_log


async def fill(engine: AsyncEngine, n: int) -> None:
    for i in range(n):
        await audit.append(engine, [AuditEntry("master", "project.create", f"p{i}", {"i": i, "name": "ü"})])


async def test_a_clean_chain_verifies(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    await audit.append(engine, [AuditEntry("key:k1", "key.use.denied", "k1", {"why": "revoked"})] * 3)
    result = await audit.verify(engine)
    assert result.ok and result.rows == 8


async def test_an_edited_row_is_found(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(details='{"i":99,"name":"ü"}'))
    result = await audit.verify(engine)
    assert not result.ok and result.seq == 3 and result.problem == "the row was edited"


async def test_a_deleted_row_is_found(engine: AsyncEngine) -> None:
    await fill(engine, 5)
    async with engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
    result = await audit.verify(engine)
    assert not result.ok and result.seq == 3


async def test_concurrent_appends_keep_one_chain(engine: AsyncEngine) -> None:
    await asyncio.gather(*(fill(engine, 4) for _ in range(5)))
    result = await audit.verify(engine)
    assert result.ok and result.rows == 20


async def test_migrations_are_idempotent(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await upgrade(engine)
    assert (await audit.verify(engine)).ok


def test_the_declared_head_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from wardgate.store import engine as store_engine
    from wardgate.store.migrations import HEAD

    config = Config()
    config.set_main_option("script_location", store_engine._MIGRATIONS)
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
