"""One worker's long-lived services: the store, the caches and the batch writers. Opened at start-up, closed at
shutdown; the pipeline's stages and the admin API share them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.cache.runtime import ResponseCache
from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.identity.external import ProjectDirectory
from wardgate.identity.keys import KeyCache
from wardgate.providers.http import UpstreamHTTP, new_session
from wardgate.store import audit as audit_store
from wardgate.store.audit import AuditEntry
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.keys import KeyStore
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import UsageEvent, insert_events

if TYPE_CHECKING:  # loaded only when identity.jwt is configured
    from wardgate.identity.jwt import JWTVerifier
    from wardgate.limits.rate_refresh import RateLimitRefresher
    from wardgate.limits.refresh import BudgetRefresher
    from wardgate.limits.stage import LimitsStage


@dataclass(slots=True)
class Services:
    settings: Settings
    http: UpstreamHTTP
    engine: AsyncEngine
    tenancy: TenancyStore
    keys: KeyStore
    key_cache: KeyCache
    ledger: BatchWriter[UsageEvent]
    audit: BatchWriter[AuditEntry]
    jwt: JWTVerifier | None = None  # identity.jwt: its JWKS is fetched at start-up
    redis: aioredis.Redis | None = None  # set when `redis:` is configured; shared by every Redis-backed state
    cache: ResponseCache | None = None  # the response cache (both tiers); set by open_services
    limits: LimitsStage | None = None  # set by the app at start-up: the admin API reads budget state through it
    budget_refresher: BudgetRefresher | None = None
    rate_limit_refresher: RateLimitRefresher | None = None  # rate limits made in the admin API (set by the app)

    async def close(self) -> None:
        if self.jwt is not None:
            await self.jwt.close()
        if self.cache is not None:
            await self.cache.close()  # before Redis: it stops its listener and writes its last stats
        await self.ledger.stop()
        await self.audit.stop()
        await self.engine.dispose()
        await self.http.session.close()
        if self.redis is not None:
            await self.redis.aclose()


async def open_services(settings: Settings) -> Services:
    engine = create_engine(settings.store)
    try:
        await upgrade(engine)
    except BaseException:
        await engine.dispose()
        raise
    tenancy, keys = TenancyStore(engine), KeyStore(engine)
    ledger_config = settings.ledger

    async def write_usage(batch: Sequence[UsageEvent]) -> None:
        await insert_events(engine, batch)

    async def write_audit(batch: Sequence[AuditEntry]) -> None:
        await audit_store.append(engine, batch)

    services = Services(
        settings=settings,
        http=UpstreamHTTP(new_session()),
        engine=engine,
        tenancy=tenancy,
        keys=keys,
        key_cache=KeyCache(keys, tenancy, ttl_s=settings.identity.key_cache_ttl_s),
        ledger=BatchWriter(
            "usage-ledger", write_usage, max_batch=ledger_config.max_batch, interval_s=ledger_config.flush_interval_s
        ),
        audit=BatchWriter(
            "audit", write_audit, max_batch=ledger_config.max_batch, interval_s=ledger_config.flush_interval_s
        ),
    )
    if settings.redis is not None:
        # a blocking pool: under a burst, requests wait (up to socket_timeout_s) for one of max_connections
        # connections instead of failing or opening one connection per in-flight request
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis.url,
            max_connections=settings.redis.max_connections,
            timeout=settings.redis.socket_timeout_s,
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.socket_timeout_s,
            health_check_interval=30,
        )
        services.redis = aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes its sockets
        await services.redis.ping()  # fail at start-up, not on the first request
    prefix = settings.redis.key_prefix if settings.redis is not None else "wg:"
    services.cache = ResponseCache(settings.cache, services.redis, prefix)
    services.ledger.start()
    services.audit.start()
    if settings.identity.jwt is not None:
        directory = ProjectDirectory(tenancy, ttl_s=settings.identity.key_cache_ttl_s)
        from wardgate.identity.jwt import JWTVerifier

        services.jwt = JWTVerifier(settings.identity.jwt, services.http.session, directory)
        await services.jwt.start()
    return services
