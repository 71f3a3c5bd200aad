"""The key cache against the real PostgreSQL when it cannot be reached (its pool exhausted), and the supervised
listener that pushes key events into it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.services import PG_HOST, PG_PORT, create_postgres_database, drop_postgres_database, postgres_url
from wardgate.core.errors import StoreUnavailable
from wardgate.identity.key_events import KeyEventListener
from wardgate.identity.keys import KeyCache
from wardgate.store.engine import async_url, upgrade
from wardgate.store.keys import KeyStore, key_hash
from wardgate.store.tenancy import TenancyStore


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    database = await asyncio.to_thread(create_postgres_database)
    # one connection and a short wait for it: holding that connection is an exhausted pool
    engine = create_async_engine(async_url(postgres_url(database)), pool_size=1, max_overflow=0, pool_timeout=0.2)
    await upgrade(engine)
    yield engine
    await engine.dispose()
    await asyncio.to_thread(drop_postgres_database, database)


async def new_key(engine: AsyncEngine) -> tuple[str, str]:
    project = await TenancyStore(engine).create_project(f"p{time.monotonic_ns()}")
    secret, record = await KeyStore(engine).create(project.id)
    return secret, record.id


async def test_an_exhausted_pool_serves_recent_keys_and_answers_503_for_the_rest(engine: AsyncEngine) -> None:
    keys = KeyStore(engine)
    cache = KeyCache(keys, TenancyStore(engine), ttl_s=1e-9, stale_s=30)  # every lookup asks the store
    known, _ = await new_key(engine)
    unknown, _ = await new_key(engine)
    assert (await cache.lookup(known)).principal is not None
    async with engine.connect():  # the pool's only connection, held
        entry = await cache.lookup(known)
        assert entry.principal is not None and entry.record is not None and entry.record.revoked_at is None
        with pytest.raises(StoreUnavailable) as caught:
            await cache.lookup(unknown)
        assert caught.value.status == 503 and caught.value.headers["retry-after"].isdigit()
        assert cache.outage.down
        cache.revoked(key_hash(known))  # a revocation pushed during the outage wins over the stale entry
        entry = await cache.lookup(known)
        assert entry.record is not None and entry.record.revoked_at is not None
    assert (await cache.lookup(unknown)).principal is not None
    assert not cache.outage.down


async def test_a_stale_entry_is_not_served_past_stale_key_s(engine: AsyncEngine) -> None:
    cache = KeyCache(KeyStore(engine), TenancyStore(engine), ttl_s=1e-9, stale_s=0)
    known, _ = await new_key(engine)
    await cache.lookup(known)
    async with engine.connect():
        with pytest.raises(StoreUnavailable):
            await cache.lookup(known)


async def test_the_listener_reconnects_after_losing_its_connection_and_applies_revocations(
    engine: AsyncEngine,
) -> None:
    keys = KeyStore(engine)
    cache = KeyCache(keys, TenancyStore(engine), ttl_s=3600)  # only a pushed event can change an entry
    listener = KeyEventListener.postgres(cache, engine.url)
    await listener.start()
    try:
        assert listener.subscribed.is_set()
        secret, key_id = await new_key(engine)
        assert (await cache.lookup(secret)).record.revoked_at is None  # type: ignore[union-attr]
        admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=engine.url.database)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'wardgate-key-events' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert killed == 1
        deadline = time.monotonic() + 10
        while listener.subscribed.is_set():  # noticed the loss
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await asyncio.wait_for(listener.subscribed.wait(), 10)  # and subscribed again, with backoff
        await keys.revoke(key_id)
        deadline = time.monotonic() + 5
        while (await cache.lookup(secret)).record.revoked_at is None:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        other, other_id = await new_key(engine)  # a project deleted with its keys: every replica drops them
        assert (await cache.lookup(other)).principal is not None
        await TenancyStore(engine).delete_project((await keys.get(other_id)).project_id)
        await keys.announce_all()
        while (await cache.lookup(other)).principal is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
    finally:
        await listener.close()
