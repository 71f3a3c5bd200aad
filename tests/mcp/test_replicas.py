"""MCP sessions across replicas, with no stickiness: two real gateway processes sharing PostgreSQL and Redis, and
the official SDK client behind a round-robin transport that sends each request to the next replica."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.limits.test_replicas import Replicas, prepare_store
from tests.mcp.upstream import LoopbackMCP
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

MASTER = "sk-replica-master-key"


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without stickiness: every request (POST, GET, DELETE) goes to the next replica; a replica
    that is down is skipped, as a balancer's health check would."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.down: set[int] = set()
        self.sent: list[int] = []
        self._next = itertools.cycle(range(len(ports)))
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        for _ in range(len(self.ports)):
            port = self.ports[next(self._next)]
            if port not in self.down:
                break
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackMCP]:
    with LoopbackMCP("streamable_http", "gh") as http:
        yield http


@pytest.fixture(scope="module")
def replicas(upstream: LoopbackMCP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    redis = redis_url()
    database = create_postgres_database()
    store = postgres_url(database)
    try:
        _, key = asyncio.run(prepare_store(store, "acme"))
        config = tmp_path_factory.mktemp("mcp-replicas") / "wardgate.yaml"
        config.write_text(f"""
master_key: {MASTER}
store: {store}
redis: {{url: "{redis}", key_prefix: "wg-mcp-{uuid.uuid4().hex[:8]}:"}}
ledger: {{flush_interval_s: 0.05}}
budgets:
  - {{name: acme-tools, scope: project, match: acme, window: day, limit_usd: 0.02, cap: hard}}
mcp:
  servers:
    github: {{transport: streamable_http, url: "{upstream.url}"}}
  virtual_servers:
    dev: {{servers: [github], tools: {{exclude: ["github.hang", "github.crash"]}}}}
  tools:
    github.add: {{price_usd: 0.002}}
""")
        group = Replicas(config, store, count=2)
        try:
            group.start()
            yield group, key
        finally:
            group.stop()
    finally:
        drop_postgres_database(database)


@contextlib.asynccontextmanager
async def balanced(ports: list[int], key: str) -> AsyncIterator[tuple[ClientSession, RoundRobin]]:
    balancer = RoundRobin(ports)
    async with (
        httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp/dev", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session, balancer


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def test_any_replica_serves_any_request_of_a_session(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    async def cycles(n: int) -> tuple[int, set[int]]:
        failures, used = 0, set()
        for i in range(n):  # initialize → tools/list → tools/call → DELETE, each request on the next replica
            try:
                async with balanced(group.ports, key) as (session, balancer):
                    names = {t.name for t in (await session.list_tools()).tools}
                    assert "github.echo" in names
                    assert text_of(await session.call_tool("github.echo", {"text": str(i)})) == f"gh:{i}"
                    used.update(balancer.sent)
            except MCPError:
                failures += 1
        return failures, used

    failures, used = asyncio.run(cycles(8))
    assert failures == 0 and used == set(group.ports)


def test_a_deleted_session_is_gone_on_every_replica_and_the_budget_holds(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    async def go() -> tuple[int, int, list[int]]:
        async with balanced(group.ports, key) as (session, _):

            async def one() -> str:
                try:
                    result = await session.call_tool("github.add", {"a": 1, "b": 1})
                    return "ok" if not result.is_error else "error"
                except MCPError as exc:
                    return str(exc.code)

            got = await asyncio.gather(*(one() for _ in range(40)))
        # the session was DELETEd on leaving; its id now answers 404 on both replicas
        session_id = None
        statuses = []
        async with httpx2.AsyncClient(timeout=10) as http:
            headers = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
            first = await http.post(f"http://127.0.0.1:{group.ports[0]}/mcp/dev", json=init, headers=headers)
            session_id = first.headers["mcp-session-id"]
            with_id = {**headers, "mcp-session-id": session_id, "mcp-protocol-version": "2025-06-18"}
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            live = await http.post(f"http://127.0.0.1:{group.ports[0]}/mcp/dev", json=ping, headers=with_id)
            assert live.status_code == 200  # replica 0 now remembers the session as live (for RECHECK_S)
            deleted = await http.delete(f"http://127.0.0.1:{group.ports[1]}/mcp/dev", headers=with_id)
            assert deleted.status_code == 204
            statuses.append(
                (await http.post(f"http://127.0.0.1:{group.ports[1]}/mcp/dev", json=ping, headers=with_id)).status_code
            )
            for _ in range(100):  # replica 0 asks Redis again once its RECHECK_S (1 s) has passed: poll, 10 s deadline
                answer = await http.post(f"http://127.0.0.1:{group.ports[0]}/mcp/dev", json=ping, headers=with_id)
                if answer.status_code == 404:
                    break
                await asyncio.sleep(0.1)
            statuses.append(answer.status_code)
        return got.count("ok"), got.count(str(-32029)), statuses

    ok, refused, statuses = asyncio.run(go())
    assert ok == 10 and refused == 30  # $0.02 at $0.002 a call: never one call more, across both replicas
    assert statuses == [404, 404]


def test_the_legacy_sse_transport_needs_no_stickiness(replicas: tuple[Replicas, str]) -> None:
    """The event stream is held by one replica; every message POST goes to the next replica round robin, and is
    relayed through Redis to the one holding the stream. Another principal's POST to the session is a 404."""
    group, key = replicas
    balancer = RoundRobin(group.ports)

    def client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth=None):  # type: ignore[no-untyped-def]
        return httpx2.AsyncClient(transport=balancer, headers=headers, timeout=timeout, auth=auth)

    created: list[str] = []

    async def go() -> list[str]:
        async with (
            sse_client(
                f"http://127.0.0.1:{group.ports[0]}/mcp/dev/sse",
                headers={"Authorization": f"Bearer {key}"},
                httpx_client_factory=client,
                on_session_created=created.append,
            ) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            out = [t.name for t in (await session.list_tools()).tools if t.name == "github.echo"]
            for i in range(3):
                out.append(text_of(await session.call_tool("github.echo", {"text": f"sse{i}"})))
            async with httpx2.AsyncClient(timeout=10) as http:  # the master key is another principal
                ping = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
                for port in group.ports:
                    stranger = await http.post(
                        f"http://127.0.0.1:{port}/mcp/dev/messages/?session_id={created[0]}",
                        json=ping,
                        headers={"Authorization": f"Bearer {MASTER}"},
                    )
                    out.append(str(stranger.status_code))
        return out

    got = asyncio.run(go())
    assert got == ["github.echo", "gh:sse0", "gh:sse1", "gh:sse2", "404", "404"]
    assert set(balancer.sent) == set(group.ports)  # messages did reach both replicas


def test_a_server_made_on_one_replica_is_served_by_the_other(
    replicas: tuple[Replicas, str], upstream: LoopbackMCP
) -> None:
    """Created in replica A's admin API, listed and called on replica B (which learns of it from the announcement,
    or at worst within limits.refresh_s); deleted on A, gone from B."""
    group, key = replicas
    a, b = (f"http://127.0.0.1:{port}" for port in group.ports[:2])
    admin = {"Authorization": f"Bearer {MASTER}"}

    async def until(http: httpx2.AsyncClient, url: str, status: int) -> int:
        for _ in range(200):  # polled, 10 s deadline
            got = (await http.get(url, headers=admin)).status_code
            if got == status:
                return got
            await asyncio.sleep(0.05)
        return got

    async def go() -> list[object]:
        out: list[object] = []
        async with httpx2.AsyncClient(timeout=30) as http:
            server = {"name": "gh2", "transport": "streamable_http", "url": upstream.url}
            out.append((await http.post(f"{a}/admin/v1/mcp/servers", json=server, headers=admin)).status_code)
            virtual = {"name": "dev2", "servers": ["gh2"], "tools": {"include": ["gh2.echo"]}}
            out.append((await http.post(f"{a}/admin/v1/mcp/virtual-servers", json=virtual, headers=admin)).status_code)
            out.append(await until(http, f"{b}/admin/v1/mcp/virtual-servers/dev2", 200))
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
                streamable_http_client(f"{b}/mcp/dev2", http_client=client) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                out.append([t.name for t in (await session.list_tools()).tools])
                out.append(text_of(await session.call_tool("gh2.echo", {"text": "on-b"})))
            out.append((await http.delete(f"{a}/admin/v1/mcp/virtual-servers/dev2", headers=admin)).status_code)
            out.append((await http.delete(f"{a}/admin/v1/mcp/servers/gh2", headers=admin)).status_code)
            out.append(await until(http, f"{b}/admin/v1/mcp/servers/gh2", 404))
        return out

    assert asyncio.run(go()) == [201, 201, 200, ["gh2.echo"], "gh:on-b", 200, 200, 404]


def test_a_replica_killed_mid_session_loses_nothing(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    async def go() -> list[str]:
        out = []
        async with balanced(group.ports, key) as (session, balancer):
            out.append(text_of(await session.call_tool("github.echo", {"text": "before"})))
            victim = group.procs[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            balancer.down.add(group.ports[0])  # the balancer's health check notices
            for i in range(3):  # the same session, never re-initialized, on the surviving replica
                out.append(text_of(await session.call_tool("github.echo", {"text": f"after{i}"})))
        return out

    assert asyncio.run(go()) == ["gh:before", "gh:after0", "gh:after1", "gh:after2"]
