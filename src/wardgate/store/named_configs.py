"""Config rows managed through the admin API and re-read by every replica: budgets and rate limits.

One row per name holding the JSON config. Rows are read as text and parsed one by one, so a damaged row (written by
an older version, or by hand) cannot fail the others: it comes back as None for the caller to report and skip.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from sqlalchemy import Table, Text, cast, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now


class NamedConfigStore:
    table: ClassVar[Table]
    noun: ClassVar[str]  # "budget", "rate limit": for the messages

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list(self) -> list[tuple[str, Any]]:
        """(name, config) of each row as stored; a config that is not JSON comes back as None. The caller validates."""
        query = select(self.table.c.name, cast(self.table.c.config, Text)).order_by(self.table.c.name)
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
                    self.table.insert().values(name=config["name"], config=config, created_at=stamp, updated_at=stamp)
                )
        except IntegrityError as exc:
            raise Conflict(f"a {self.noun} named {config['name']!r} already exists") from exc

    async def replace(self, name: str, config: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                self.table.update().where(self.table.c.name == name).values(config=config, updated_at=now())
            )
        if result.rowcount == 0:
            raise NotFoundInStore(self._absent(name))

    async def delete(self, name: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(self.table).where(self.table.c.name == name))
        if result.rowcount == 0:
            raise NotFoundInStore(self._absent(name))

    def _absent(self, name: str) -> str:
        return f"no {self.noun} {name!r} ({self.noun}s from the config file cannot be changed here)"
