"""The official SDK's client, pointed at Wardgate: streamable HTTP (with a credential) and the legacy SSE."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx2
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


@contextlib.asynccontextmanager
async def mcp_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    """An initialized session over streamable HTTP to ``url`` (…/mcp/<virtual server>)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def mcp_sse_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    async with (
        sse_client(url, headers={"Authorization": f"Bearer {key}"}) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
