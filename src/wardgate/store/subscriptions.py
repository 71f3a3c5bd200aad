"""Pushed events a worker listens for (key revocations, config announcements): one supervised subscription each.

A subscription is Redis pub/sub (``redis:`` configured) or PostgreSQL LISTEN on a dedicated connection. ``Supervised``
keeps it alive whatever the backend does: a lost connection is re-opened with backoff (0.1 s doubling to 5 s), logged
once when it drops and once when it is back; ``subscribed`` is set while events can arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from wardgate.store.redis_errors import redis_errors

if TYPE_CHECKING:
    import redis.asyncio as aioredis

PG_PING_S = 10.0  # LISTEN connections are idle: a ping finds a half-open one
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
            with contextlib.suppress(*redis_errors(OSError)):
                await pubsub.aclose()

    return subscribe


def postgres_subscription(url: URL, channel: str, application_name: str) -> Subscription:
    """A dedicated asyncpg connection, outside the pool: LISTEN holds it for the worker's lifetime."""
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def subscribe(on_message: OnMessage, ready: asyncio.Event) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(dsn, timeout=5, server_settings={"application_name": application_name})
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_message(payload))
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


class Supervised:
    """Runs ``subscribe`` until closed, re-opening it when it fails. ``what`` names the events in the two log lines
    (``"key events"``); ``meanwhile`` says what bounds the delay while they are lost."""

    def __init__(
        self,
        subscribe: Subscription,
        on_message: OnMessage,
        *,
        source: str,
        what: str,
        meanwhile: str,
        log: logging.Logger,
    ) -> None:
        self._subscribe = subscribe
        self._on_message = on_message
        self.source = source
        self._what = what
        self._meanwhile = meanwhile
        self._log = log
        self._lost = False  # log once when the subscription drops, once when it is back
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while events arrive; tests and start-up wait on it

    async def start(self, wait_s: float = 2.0) -> None:
        """Subscribe in the background; wait a little for it, so an event right after start-up is not missed."""
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=self._what.replace(" ", "-"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait_s)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            ready = asyncio.Event()
            watcher = asyncio.get_running_loop().create_task(self._ready(ready))
            try:
                await self._subscribe(self._on_message, ready)
            # what a lost backend raises: Redis, asyncpg (its errors are Exceptions), sockets, timeouts
            except Exception as exc:  # noqa: BLE001 - supervised: any failure means "reconnect", never a dead listener
                if not self._lost:
                    self._lost = True
                    self._log.warning(
                        "%s (%s) lost: %s; %s until it is back",
                        self._what,
                        self.source,
                        f"{type(exc).__name__}: {exc}"[:200],
                        self._meanwhile,
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
            self._log.warning("%s (%s) subscribed again", self._what, self.source)
