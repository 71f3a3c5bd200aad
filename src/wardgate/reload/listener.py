"""Config announcements pushed to this worker: Redis pub/sub when ``redis:`` is configured, else PostgreSQL LISTEN
when the store is PostgreSQL (SQLite: one host, the periodic re-read suffices).

The subscription is supervised as the key events' is (identity/key_events.py): a lost connection is re-opened with
backoff (0.1 s doubling to 5 s), logged once when it drops and once when it is back, and meanwhile the reloader's
periodic re-read (``reload.resync_s``) bounds how late a change arrives. Payloads that do not carry a valid
signature (store/applied_config.py) are ignored and counted, never logged one by one.
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

from wardgate.store.applied_config import CONFIG_EVENTS_CHANNEL, verify

log = logging.getLogger("wardgate.reload")
PG_PING_S = 10.0
OnMessage = Callable[[str | bytes], None]
Subscription = Callable[[OnMessage, asyncio.Event], Awaitable[None]]


def redis_subscription(client: aioredis.Redis, channel: str) -> Subscription:
    async def subscribe(on_message: OnMessage, ready: asyncio.Event) -> None:
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

    return subscribe


def postgres_subscription(url: URL) -> Subscription:
    """A dedicated asyncpg connection, outside the pool: LISTEN holds it for the worker's lifetime."""
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def subscribe(on_message: OnMessage, ready: asyncio.Event) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(dsn, timeout=5, server_settings={"application_name": "wardgate-config-events"})
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CONFIG_EVENTS_CHANNEL, lambda _c, _pid, _ch, payload: on_message(payload))
            ready.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PG_PING_S)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=5)
            raise ConnectionError("the LISTEN connection was closed")
        finally:
            conn.terminate()

    return subscribe


class ConfigEventListener:
    """Calls ``on_event(kind, version)`` for each validly signed announcement; runs until closed, whatever the backend
    does."""

    def __init__(self, subscribe: Subscription, source: str, key: bytes, on_event: Callable[[str, int], None]) -> None:
        self._subscribe = subscribe
        self.source = source
        self._key = key
        self._on_event = on_event
        self._lost = False
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.received = 0
        self.ignored = 0  # payloads from an unknown sender, or damaged

    async def start(self, wait_s: float = 2.0) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="config-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait_s)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _message(self, payload: str | bytes) -> None:
        event = verify(self._key, payload)
        if event is None:
            self.ignored += 1
            return
        self.received += 1
        self._on_event(*event)

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            ready = asyncio.Event()
            watcher = asyncio.get_running_loop().create_task(self._ready(ready))
            try:
                await self._subscribe(self._message, ready)
            except Exception as exc:  # noqa: BLE001 - supervised: any failure means "reconnect", never a dead listener
                if not self._lost:
                    self._lost = True
                    log.warning(
                        "config events (%s) lost: %s; changes reach this worker within reload.resync_s until it is "
                        "back",
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
            log.warning("config events (%s) subscribed again", self.source)
