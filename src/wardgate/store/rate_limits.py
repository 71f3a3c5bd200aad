"""Rate limits managed through the admin API. Every worker and replica re-reads them (limits/rate_refresh.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now
from wardgate.store.tables import rate_limits


class RateLimitStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(rate_limits.c.config).order_by(rate_limits.c.name))
            return [dict(r[0]) for r in rows]

    async def create(self, config: dict[str, Any]) -> None:
        stamp = now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    rate_limits.insert().values(name=config["name"], config=config, created_at=stamp, updated_at=stamp)
                )
        except IntegrityError as exc:
            raise Conflict(f"a rate limit named {config['name']!r} already exists") from exc

    async def replace(self, name: str, config: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                rate_limits.update().where(rate_limits.c.name == name).values(config=config, updated_at=now())
            )
        if result.rowcount == 0:
            raise NotFoundInStore(f"no rate limit {name!r} (rate limits from the config file cannot be changed here)")

    async def delete(self, name: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(rate_limits).where(rate_limits.c.name == name))
        if result.rowcount == 0:
            raise NotFoundInStore(f"no rate limit {name!r} (rate limits from the config file cannot be changed here)")
