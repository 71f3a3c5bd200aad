"""A worker keeps a fixed set of connections to a SQLite file: more concurrent queries than connections wait for
one instead of opening (and closing again) a connection, its driver thread and its page cache each time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from wardgate.store.engine import SQLITE_POOL, create_engine


async def test_more_queries_than_connections_share_the_fixed_pool(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    from sqlalchemy import event

    event.listen(engine.sync_engine, "connect", lambda conn, record: opened.append(conn))
    try:

        async def query(i: int) -> int:
            async with engine.connect() as conn:
                await asyncio.sleep(0)  # hold the connection across a turn of the loop, as a request does
                return int((await conn.execute(text(f"SELECT {i}"))).scalar_one())

        for _ in range(3):
            assert await asyncio.gather(*(query(i) for i in range(4 * SQLITE_POOL))) == list(range(4 * SQLITE_POOL))
        assert len(opened) == SQLITE_POOL  # opened once each, kept, never more
    finally:
        await engine.dispose()


def test_a_database_in_memory_keeps_its_single_connection() -> None:
    assert type(create_engine("sqlite:///:memory:").pool).__name__ == "StaticPool"
