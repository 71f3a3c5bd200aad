"""Key events pushed to this worker's key cache: a revocation is refused here within milliseconds of its commit.

One subscription per worker: Redis pub/sub when ``redis:`` is configured, else PostgreSQL LISTEN when the store is
PostgreSQL (SQLite is one host: the writer's own cache and the TTL suffice). The subscription is supervised: a
lost connection is re-opened with backoff (0.1 s doubling to 5 s), logged once when it drops and once when it is
back; meanwhile the cache's short TTL bounds how long a revoked key still works.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.identity.keys import KeyCache
from wardgate.store.keys import KEY_EVENTS_CHANNEL, key_events_channel, parse_key_event
from wardgate.store.subscriptions import Subscription, Supervised, postgres_subscription, redis_subscription

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.identity")


class KeyEventListener(Supervised):
    """Applies pushed key events to a ``KeyCache``; runs until closed, whatever the backend does."""

    def __init__(self, cache: KeyCache, subscribe: Subscription, source: str) -> None:
        super().__init__(
            subscribe,
            self._apply,
            source=source,
            what="key events",
            meanwhile="revocations reach this worker within the key cache TTL",
            log=log,
        )
        self._cache = cache
        self.received = 0

    @classmethod
    def redis(cls, cache: KeyCache, client: aioredis.Redis, channel: str) -> KeyEventListener:
        return cls(cache, redis_subscription(client, channel), "Redis pub/sub")

    @classmethod
    def postgres(cls, cache: KeyCache, url: URL) -> KeyEventListener:
        return cls(cache, postgres_subscription(url, KEY_EVENTS_CHANNEL, "wardgate-key-events"), "PostgreSQL LISTEN")

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
