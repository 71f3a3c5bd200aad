"""Budgets managed through the admin API. Every replica reloads them periodically (limits.refresh_s)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Text, cast, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now
from wardgate.store.tables import budgets


class BudgetStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list(self) -> list[tuple[str, Any]]:
        """(name, config) of each row as stored: read as text and parsed row by row, so one damaged row cannot fail
        the others. The caller validates; a config that is not JSON comes back as None."""
        query = select(budgets.c.name, cast(budgets.c.config, Text)).order_by(budgets.c.name)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out: list[tuple[str, Any]] = []
        for name, text in rows:
            try:
                out.append((name, orjson.loads(text) if text is not None else None))
            except orjson.JSONDecodeError:
                out.append((name, None))
        return out

    async def create(self, config: dict[str, Any]) -> None:
        stamp = now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    budgets.insert().values(name=config["name"], config=config, created_at=stamp, updated_at=stamp)
                )
        except IntegrityError as exc:
            raise Conflict(f"a budget named {config['name']!r} already exists") from exc

    async def replace(self, name: str, config: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                budgets.update().where(budgets.c.name == name).values(config=config, updated_at=now())
            )
        if result.rowcount == 0:
            raise NotFoundInStore(f"no budget {name!r} (budgets from the config file cannot be changed here)")

    async def delete(self, name: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(budgets).where(budgets.c.name == name))
        if result.rowcount == 0:
            raise NotFoundInStore(f"no budget {name!r} (budgets from the config file cannot be changed here)")
