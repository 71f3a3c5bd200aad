"""MCP upstream servers and virtual servers made in the admin API (docs/mcp.md, decision 057). Every worker and
replica re-reads them (limits.refresh_s, and at once when the admin API announces a change).

One row per (kind, name): the entry as the config file would write it, minus a server's secrets (headers, env, the
OAuth client secret), which are kept apart, encrypted (config/secrets.py). Rows are read as text and parsed one by
one: a damaged row comes back with ``config`` None for the caller to skip, never failing the others.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.catalog import CatalogEntry, SealedEntries
from wardgate.store.tables import mcp_servers

Kind = Literal["server", "virtual_server"]
NOUN = {"server": "MCP server", "virtual_server": "virtual MCP server"}
StoredMCP = CatalogEntry  # kind, name, config (None when the row is damaged), sealed secrets of a server, updated_by


class MCPServerStore(SealedEntries):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, mcp_servers, NOUN)
