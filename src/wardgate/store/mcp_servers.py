"""MCP upstream servers and virtual servers made in the admin API (docs/mcp.md, decision 057). Every worker and
replica re-reads them (limits.refresh_s, and at once when the admin API announces a change).

One row per (kind, name): the entry as the config file would write it, minus a server's secrets (headers, env, the
OAuth client secret), which are kept apart, encrypted (config/secrets.py). Rows are read as text and parsed one by
one: a damaged row comes back with ``config`` None for the caller to skip, never failing the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import Text, cast, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, now
from wardgate.store.tables import mcp_servers

Kind = Literal["server", "virtual_server"]
NOUN = {"server": "MCP server", "virtual_server": "virtual MCP server"}


@dataclass(frozen=True, slots=True)
class StoredMCP:
    kind: str
    name: str
    config: Any  # a mapping; None when the row is damaged
    secrets: str | None  # the sealed headers, env and OAuth client secret of a server
    updated_by: str


class MCPServerStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def entries(self) -> list[StoredMCP]:
        c = mcp_servers.c
        query = select(c.kind, c.name, cast(c.config, Text), c.secrets, c.updated_by).order_by(c.kind, c.name)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for kind, name, text, secrets, by in rows:
            try:
                config = orjson.loads(text) if text is not None else None
            except orjson.JSONDecodeError:
                config = None
            out.append(StoredMCP(kind, name, config, secrets, by))
        return out

    async def create(self, entry: StoredMCP) -> None:
        stamp = now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    mcp_servers.insert().values(
                        kind=entry.kind,
                        name=entry.name,
                        config=entry.config,
                        secrets=entry.secrets,
                        updated_by=entry.updated_by,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a {NOUN[entry.kind]} named {entry.name!r} already exists") from exc

    async def replace(self, entry: StoredMCP) -> None:
        c = mcp_servers.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                mcp_servers.update()
                .where((c.kind == entry.kind) & (c.name == entry.name))
                .values(config=entry.config, secrets=entry.secrets, updated_by=entry.updated_by, updated_at=now())
            )
        if result.rowcount == 0:
            raise NotFoundInStore(absent(entry.kind, entry.name))

    async def delete(self, kind: str, name: str) -> None:
        c = mcp_servers.c
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(mcp_servers).where((c.kind == kind) & (c.name == name)))
        if result.rowcount == 0:
            raise NotFoundInStore(absent(kind, name))


def absent(kind: str, name: str) -> str:
    noun = NOUN.get(kind, kind)
    return f"no {noun} {name[:100]!r} made in the admin API ({noun}s of the config file cannot be changed here)"
