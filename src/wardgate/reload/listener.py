"""Config announcements pushed to this worker: Redis pub/sub when ``redis:`` is configured, else PostgreSQL LISTEN
when the store is PostgreSQL (SQLite: one host, the periodic re-read suffices).

The subscription is supervised as the key events' is (identity/key_events.py): a lost connection is re-opened with
backoff (0.1 s doubling to 5 s), logged once when it drops and once when it is back, and meanwhile the reloader's
periodic re-read (``reload.resync_s``) bounds how late a change arrives. Payloads that do not carry a valid
signature (store/applied_config.py) are ignored and counted, never logged one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from wardgate.store import subscriptions
from wardgate.store.applied_config import CONFIG_EVENTS_CHANNEL, verify
from wardgate.store.subscriptions import Subscription, Supervised

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["ConfigEventListener", "Subscription", "postgres_subscription", "redis_subscription"]

log = logging.getLogger("wardgate.reload")


def redis_subscription(client: aioredis.Redis, channel: str) -> Subscription:
    return subscriptions.redis_subscription(client, channel)


def postgres_subscription(url: URL) -> Subscription:
    return subscriptions.postgres_subscription(url, CONFIG_EVENTS_CHANNEL, "wardgate-config-events")


class ConfigEventListener(Supervised):
    """Calls ``on_event(kind, version)`` for each validly signed announcement; runs until closed, whatever the backend
    does."""

    def __init__(self, subscribe: Subscription, source: str, key: bytes, on_event: Callable[[str, int], None]) -> None:
        super().__init__(
            subscribe,
            self._message,
            source=source,
            what="config events",
            meanwhile="changes reach this worker within reload.resync_s",
            log=log,
        )
        self._key = key
        self._on_event = on_event
        self.received = 0
        self.ignored = 0  # payloads from an unknown sender, or damaged

    def _message(self, payload: str | bytes) -> None:
        event = verify(self._key, payload)
        if event is None:
            self.ignored += 1
            return
        self.received += 1
        self._on_event(*event)
