"""How a worker learns of changes made elsewhere: the Redis client it shares, the announcement of a budget or rate
limit change made in the admin API, and the channel config announcements arrive on."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.config.schema import RedisConfig, Settings
from wardgate.reload.listener import Subscription, postgres_subscription, redis_subscription
from wardgate.store.applied_config import announce, config_events_channel, signing_key
from wardgate.store.redis_errors import redis_errors

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from wardgate.assemble import Worker


async def open_redis(config: RedisConfig | None) -> aioredis.Redis | None:
    if config is None:
        return None  # redis-py (about 25 MB per worker) is never imported
    import redis.asyncio as aioredis

    # a blocking pool: under a burst, requests wait (up to socket_timeout_s) for one of max_connections connections
    # instead of failing or opening one connection per in-flight request
    pool = aioredis.BlockingConnectionPool.from_url(
        config.url,
        max_connections=config.max_connections,
        timeout=config.socket_timeout_s,
        socket_timeout=config.socket_timeout_s,
        socket_connect_timeout=config.socket_timeout_s,
        health_check_interval=30,
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        await client.ping()  # fail at start-up, not on the first request
    except BaseException:
        await client.aclose()
        raise
    return client


def limits_announcer(
    settings: Settings, engine: AsyncEngine, redis: aioredis.Redis | None
) -> Callable[[], Awaitable[None]]:
    assert settings.master_key is not None, "validated at load"
    key = signing_key(settings.master_key.get_secret_value())
    publish = None
    if redis is not None and settings.redis is not None:
        publish = partial(redis.publish, config_events_channel(settings.redis.key_prefix))

    async def announce_limits() -> None:
        """Never fails the admin request that changed them: the periodic re-read is the bound."""
        try:
            await announce(engine, key, publish, "limits", secrets.randbelow(2**31))
        except redis_errors(SQLAlchemyError, OSError) as exc:
            logging.getLogger("wardgate.reload").warning(
                "limits change not announced (%s); other workers re-read within limits.refresh_s", exc
            )

    return announce_limits


def config_subscription(worker: Worker) -> tuple[Subscription, str] | None:
    """Where config announcements arrive: Redis pub/sub when configured, else PostgreSQL LISTEN, else nowhere."""
    if worker.redis is not None and worker.settings.redis is not None:
        channel = config_events_channel(worker.settings.redis.key_prefix)
        return redis_subscription(worker.redis, channel), "Redis pub/sub"
    if worker.engine.dialect.name == "postgresql":
        return postgres_subscription(worker.engine.url), "PostgreSQL LISTEN"
    return None
