"""The MCP gateway end to end: the official SDK client → Wardgate → real upstream MCP servers on loopback (the SDK's
MCPServer over streamable HTTP and SSE, and a stdio child process)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import httpx
import mcp_types as types
import pytest

from tests.mcp.client import mcp_session, mcp_sse_session
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackMCP, LoopbackMCP]]:
    with LoopbackMCP("streamable_http", "gh") as http, LoopbackMCP("sse", "legacy") as sse:
        yield http, sse


def config(http: LoopbackMCP, sse: LoopbackMCP) -> str:
    return f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{http.url}", headers: {{Authorization: "Bearer upstream-secret-123"}}}}
    legacy: {{transport: sse, url: "{sse.url}"}}
    files: {{transport: stdio, command: ["{sys.executable}", "-m", "tests.mcp.upstream", "files"]}}
  virtual_servers:
    dev-tools:
      servers: [github, files, legacy]
      tools:
        include: ["github.*", "files.read_*", "files.pid", "files.crash", "legacy.echo"]
        exclude: ["github.delete_*"]
      prefix: true
    flat:
      servers: [github]
      tools: {{include: ["github.echo", "github.add"]}}
      prefix: false
  tools:
    github.add: {{price_usd: 0.002, timeout_s: 30}}
    github.hang: {{timeout_s: 0.3}}
"""


@pytest.fixture(scope="module")
def gateway(upstreams: tuple[LoopbackMCP, LoopbackMCP]) -> Iterator[RunningGateway]:
    with gateway_from_yaml(config(*upstreams)) as gw:
        yield gw


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def test_tools_are_federated_filtered_and_prefixed(gateway: RunningGateway) -> None:
    async def go() -> list[str]:
        async with mcp_session(gateway.root + "/mcp/dev-tools", MASTER_KEY) as s:
            return sorted(t.name for t in (await s.list_tools()).tools)

    names = run(go())
    assert "github.delete_repo" not in names  # excluded by the virtual server
    assert {"github.echo", "github.add", "github.hang", "files.read_file", "files.pid", "legacy.echo"} <= set(names)
    assert "files.echo" not in names and "legacy.add" not in names  # not included


def test_calls_reach_each_transport(gateway: RunningGateway) -> None:
    async def go() -> tuple[str, str, str, types.CallToolResult]:
        async with mcp_session(gateway.root + "/mcp/dev-tools", MASTER_KEY) as s:
            a = await s.call_tool("github.echo", {"text": "hi"})
            b = await s.call_tool("files.read_file", {"path": "/x"})
            c = await s.call_tool("legacy.echo", {"text": "old"})
            d = await s.call_tool("github.add", {"a": 2, "b": 3})
            return text_of(a), text_of(b), text_of(c), d

    a, b, c, d = run(go())
    assert (a, b, c) == ("gh:hi", "contents of /x", "legacy:old")
    assert d.structured_content == {"result": 5} and not d.is_error


def test_unprefixed_virtual_server(gateway: RunningGateway) -> None:
    async def go() -> tuple[list[str], str]:
        async with mcp_session(gateway.root + "/mcp/flat", MASTER_KEY) as s:
            names = sorted(t.name for t in (await s.list_tools()).tools)
            return names, text_of(await s.call_tool("echo", {"text": "x"}))

    assert run(go()) == (["add", "echo"], "gh:x")


def test_hidden_and_unknown_tools_are_the_same_error(gateway: RunningGateway) -> None:
    names = ("github.delete_repo", "github.nope", "nobody.echo", "files.echo")

    async def go() -> list[tuple[bool | None, str]]:
        async with mcp_session(gateway.root + "/mcp/dev-tools", MASTER_KEY) as s:
            return [((r := await s.call_tool(name, {})).is_error, text_of(r)) for name in names]

    assert run(go()) == [(True, f"Unknown tool: {n}") for n in names]  # as the SDK's servers answer an unknown tool


def test_a_hanging_upstream_is_cut_at_timeout_s(gateway: RunningGateway) -> None:
    async def go() -> types.CallToolResult:
        async with mcp_session(gateway.root + "/mcp/dev-tools", MASTER_KEY) as s:
            return await s.call_tool("github.hang", {})

    result = run(go())
    assert result.is_error and "did not answer within 0.3 s" in text_of(result)


def test_a_crashed_stdio_upstream_fails_one_call_and_is_restarted(gateway: RunningGateway) -> None:
    async def go() -> tuple[int, types.CallToolResult, int]:
        async with mcp_session(gateway.root + "/mcp/dev-tools", MASTER_KEY) as s:
            first = int(text_of(await s.call_tool("files.pid", {})))
            crashed = await s.call_tool("files.crash", {})
            upstream = gateway.worker.mcp.upstreams["files"]  # type: ignore[union-attr]
            # the supervisor restarts the child; wait for its new session (an event, not a sleep)
            for _ in range(200):
                if upstream.connects >= 2 and upstream.healthy:
                    break
                await asyncio.sleep(0.05)
            second = int(text_of(await s.call_tool("files.pid", {})))
            return first, crashed, second

    first, crashed, second = run(go())
    assert crashed.is_error and "files" in text_of(crashed)
    assert second != first  # a new child process answers


def test_the_legacy_sse_transport_serves_a_virtual_server(gateway: RunningGateway) -> None:
    async def go() -> tuple[list[str], str]:
        async with mcp_sse_session(gateway.root + "/mcp/flat/sse", MASTER_KEY) as s:
            names = sorted(t.name for t in (await s.list_tools()).tools)
            return names, text_of(await s.call_tool("add", {"a": 20, "b": 22}))

    assert run(go()) == (["add", "echo"], "42")


def test_bad_input_gets_json_rpc_errors(gateway: RunningGateway) -> None:
    url = gateway.root + "/mcp/dev-tools"
    auth = {"Authorization": f"Bearer {MASTER_KEY}", "Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=10) as http:
        unauth = http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert unauth.status_code == 401 and unauth.json()["error"]["code"] == -32001
        bad = http.post(url, content=b"{not json", headers={**auth, "content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        scalar = http.post(url, content=b"42", headers={**auth, "content-type": "application/json"})
        assert scalar.status_code == 400 and scalar.json()["error"]["code"] == -32600
        big = http.post(
            url, content=b"[" + b"1," * 3_000_000 + b"1]", headers={**auth, "content-type": "application/json"}
        )
        assert big.status_code == 413 and "larger than" in big.json()["error"]["message"]
        assert http.get(url, headers=auth).status_code == 405  # no standalone stream to hold open
        long_name = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a" * 100_000}}
        echoed = http.post(url, json=long_name, headers=auth)
        assert echoed.status_code == 200 and len(echoed.text) < 2_000  # an unknown name is not echoed in full
        missing = http.post(gateway.root + "/mcp/nope", json={}, headers=auth)
        assert missing.status_code == 404
        forged = http.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={**auth, "mcp-session-id": "abc.def"}
        )
        assert forged.status_code == 404


def test_the_admin_api_shows_servers_virtual_servers_and_calls(gateway: RunningGateway) -> None:
    async def call() -> None:
        async with mcp_session(gateway.root + "/mcp/flat", MASTER_KEY) as s:
            await s.call_tool("echo", {"text": "audit me"})

    run(call())
    gateway.run(gateway.worker.ledger.flush())
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=gateway.root + "/admin/v1/mcp", headers=auth, timeout=10) as admin:
        servers = {s["name"]: s for s in admin.get("/servers").json()["data"]}
        assert {n: (s["transport"], s["healthy"]) for n, s in servers.items()} == {
            "github": ("streamable_http", True),
            "legacy": ("sse", True),
            "files": ("stdio", True),
        }
        assert servers["github"]["server_info"]["name"] == "gh"
        assert "upstream-secret-123" not in admin.get("/servers").text  # upstream headers are never shown
        virtual = admin.get("/virtual-servers/dev-tools").json()["data"][0]
        assert virtual["servers"] == ["github", "files", "legacy"] and virtual["exclude"] == ["github.delete_*"]
        assert virtual["endpoints"] == {"streamable_http": "/mcp/dev-tools", "sse": "/mcp/dev-tools/sse"}
        calls = admin.get("/tool-calls", params={"limit": "5"}).json()["data"]
        assert any(c["name"] == "github.echo" and c["details"]["mcp"]["virtual_server"] == "flat" for c in calls)
        assert admin.get("/servers/nope").status_code == 404
        assert admin.get("/tool-calls", params={"limit": "0"}).status_code == 400
        assert admin.get("/tool-policies").json() == {"data": []}
        assert httpx.get(gateway.root + "/admin/v1/mcp/servers").status_code == 401


def test_resources_and_prompts_are_federated_and_audited(gateway: RunningGateway) -> None:
    async def go() -> tuple[list[str], str, list[str], str]:
        async with mcp_session(gateway.root + "/mcp/flat", MASTER_KEY) as s:
            uris = [str(r.uri) for r in (await s.list_resources()).resources]
            read = await s.read_resource("test://greeting")
            prompts = [p.name for p in (await s.list_prompts()).prompts]
            got = await s.get_prompt("greet", {"who": "Ada"})
        content = read.contents[0]
        message = got.messages[0].content
        assert isinstance(content, types.TextResourceContents) and isinstance(message, types.TextContent)
        return uris, content.text, prompts, message.text

    assert run(go()) == (["test://greeting"], "hello from gh", ["greet"], "Say hello to Ada.")

    async def actions() -> list[tuple[str, str]]:
        from sqlalchemy import select

        from wardgate.store.tables import audit_log

        await gateway.worker.audit.flush()
        async with gateway.worker.engine.connect() as conn:
            return [(r[0], r[1]) for r in await conn.execute(select(audit_log.c.action, audit_log.c.target))]

    found = gateway.run(actions())
    assert ("mcp.resources/read", "flat/test://greeting") in found and ("mcp.prompts/get", "flat/github.greet") in found
