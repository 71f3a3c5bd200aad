"""Key events pushed to this worker's key cache: a revocation is refused here within milliseconds of its commit.

One subscription per worker: Redis pub/sub when ``redis:`` is configured, else PostgreSQL LISTEN when the store is
PostgreSQL (SQLite is one host: the writer's own cache and the TTL suffice). The subscription is supervised: a
lost connection is re-opened with backoff (0.1 s doubling to 5 s), logged once when it drops and once when it is
back; meanwhile the cache's short TTL bounds how long a revoked key still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.identity.keys import KeyCache
from wardgate.store.keys import KEY_EVENTS_CHANNEL, key_events_channel, parse_key_event

log = logging.getLogger("wardgate.identity")
PG_PING_S = 10.0  # LISTEN connections are idle: a ping finds a half-open one
Subscription = Callable[[Callable[[str | bytes], None], asyncio.Event], Awaitable[None]]


class KeyEventListener:
    """Applies pushed key events to a ``KeyCache``; runs until closed, whatever the backend does."""

    def __init__(self, cache: KeyCache, subscribe: Subscription, source: str) -> None:
        self._cache = cache
        self._subscribe = subscribe
        self.source = source
        self._lost = False  # log once when the subscription drops, once when it is back
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while events arrive; tests and start-up wait on it
        self.received = 0

    @classmethod
    def redis(cls, cache: KeyCache, client: aioredis.Redis, channel: str) -> KeyEventListener:
        async def subscribe(on_message: Callable[[str | bytes], None], ready: asyncio.Event) -> None:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                ready.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        on_message(message["data"])
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

        return cls(cache, subscribe, "Redis pub/sub")

    @classmethod
    def postgres(cls, cache: KeyCache, url: URL) -> KeyEventListener:
        """A dedicated asyncpg connection, outside the pool: LISTEN holds it for the worker's lifetime."""
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

        async def subscribe(on_message: Callable[[str | bytes], None], ready: asyncio.Event) -> None:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(dsn, timeout=5, server_settings={"application_name": "wardgate-key-events"})
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _conn: lost.set())
                await conn.add_listener(KEY_EVENTS_CHANNEL, lambda _c, _pid, _ch, payload: on_message(payload))
                ready.set()
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), PG_PING_S)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=5)
                raise ConnectionError("the LISTEN connection was closed")
            finally:
                conn.terminate()

        return cls(cache, subscribe, "PostgreSQL LISTEN")

    async def start(self, wait_s: float = 2.0) -> None:
        """Subscribe in the background; wait a little for it, so a revocation right after start-up is not missed."""
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="key-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait_s)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _apply(self, payload: str | bytes) -> None:
        parsed = parse_key_event(payload)
        if parsed is None:
            return
        self.received += 1
        event, digest = parsed
        if event == "revoked":
            self._cache.revoked(digest)
        elif event == "changed":
            self._cache.changed(digest)
        else:
            self._cache.invalidate()

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            ready = asyncio.Event()
            watcher = asyncio.get_running_loop().create_task(self._ready(ready))
            try:
                await self._subscribe(self._apply, ready)
            # what a lost backend raises: Redis, asyncpg (its errors are Exceptions), sockets, timeouts
            except Exception as exc:  # noqa: BLE001 - supervised: any failure means "reconnect", never a dead listener
                if not self._lost:
                    self._lost = True
                    log.warning(
                        "key events (%s) lost: %s; revocations reach this worker within the key cache TTL until "
                        "it is back",
                        self.source,
                        f"{type(exc).__name__}: {exc}"[:200],
                    )
            finally:
                watcher.cancel()
                self.subscribed.clear()
            if ready.is_set():
                backoff = 0.1
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, 5.0)

    async def _ready(self, ready: asyncio.Event) -> None:
        await ready.wait()
        self.subscribed.set()
        if self._lost:
            self._lost = False
            log.warning("key events (%s) subscribed again", self.source)


async def open_key_events(
    cache: KeyCache, engine: AsyncEngine, redis: aioredis.Redis | None, redis_prefix: str
) -> KeyEventListener | None:
    """Redis when configured, else PostgreSQL; ``None`` on SQLite (one host)."""
    if redis is not None:
        listener = KeyEventListener.redis(cache, redis, key_events_channel(redis_prefix))
    elif engine.dialect.name == "postgresql":
        listener = KeyEventListener.postgres(cache, engine.url)
    else:
        return None
    await listener.start()
    return listener
