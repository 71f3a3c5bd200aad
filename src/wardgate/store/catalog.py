"""Models and providers created through the admin API (docs/operations.md, "Models and providers in the database").

One row per (kind, name): the entry as the config file would write it, minus a provider's secret fields, which are
kept apart, encrypted (config/secrets.py). Rows are read as text and parsed one by one: a damaged row comes back with
``config`` None for the caller to report, never failing the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Table, Text, cast, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now
from wardgate.store.tables import catalog_entries

Kind = Literal["provider", "model"]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    kind: str
    name: str
    config: Any  # a mapping (a model may also be a list of deployments); None when the row is damaged
    secrets: str | None  # the sealed secret fields of a provider
    updated_by: str
    updated_at: datetime | None = None


def digest(entries: list[CatalogEntry]) -> str:
    """Changes when any entry does: a worker re-applies the catalog only then."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: (e.kind, e.name)):
        h.update(orjson.dumps([e.kind, e.name, e.config, e.secrets], option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


class SealedEntries:
    """Rows of (kind, name, config, sealed secrets) made in the admin API: the catalog's, and the MCP servers'
    (store/mcp_servers.py) in a table of the same shape. ``nouns`` names each kind in messages."""

    def __init__(self, engine: AsyncEngine, table: Table, nouns: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.table = table
        self.nouns = nouns or {}

    async def entries(self) -> list[CatalogEntry]:
        c = self.table.c
        query = select(c.kind, c.name, cast(c.config, Text), c.secrets, c.updated_by, c.updated_at)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(c.kind, c.name))).all()
        out = []
        for kind, name, text, secrets, by, at in rows:
            try:
                config = orjson.loads(text) if text is not None else None
            except orjson.JSONDecodeError:
                config = None
            out.append(CatalogEntry(kind, name, config, secrets, by, at))
        return out

    async def create(self, entry: CatalogEntry) -> None:
        stamp = now()
        values = {"config": entry.config, "secrets": entry.secrets, "updated_by": entry.updated_by}
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    self.table.insert().values(
                        kind=entry.kind, name=entry.name, created_at=stamp, updated_at=stamp, **values
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a {self.nouns.get(entry.kind, entry.kind)} named {entry.name!r} already exists") from exc

    async def replace(self, entry: CatalogEntry) -> None:
        c = self.table.c
        where = (c.kind == entry.kind) & (c.name == entry.name)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                self.table.update()
                .where(where)
                .values(config=entry.config, secrets=entry.secrets, updated_by=entry.updated_by, updated_at=now())
            )
        if result.rowcount == 0:
            raise NotFoundInStore(absent(self.nouns.get(entry.kind, entry.kind), entry.name))

    async def reseal(self, kind: str, name: str, old: str, new: str) -> bool:
        """Swap one row's sealed secrets if they are still ``old`` (key rotation)."""
        c = self.table.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                self.table.update().where((c.kind == kind) & (c.name == name) & (c.secrets == old)).values(secrets=new)
            )
        return bool(result.rowcount)

    async def delete(self, kind: str, name: str) -> None:
        c = self.table.c
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(self.table).where((c.kind == kind) & (c.name == name)))
        if result.rowcount == 0:
            raise NotFoundInStore(absent(self.nouns.get(kind, kind), name))


class CatalogStore(SealedEntries):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, catalog_entries)


def absent(kind: str, name: str) -> str:
    return f"no {kind} {name[:100]!r} made in the admin API ({kind}s of the config file cannot be changed here)"
