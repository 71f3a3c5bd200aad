"""MCP servers and virtual servers made in the admin API (`/admin/v1/mcp/servers`, `/admin/v1/mcp/virtual-servers`):
validated by the config file's models, audited with their secrets masked, and served at once without a restart;
one deleted while a call is in flight lets that call finish."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import mcp_types as types
import pytest
from cryptography.fernet import Fernet
from mcp.shared.exceptions import MCPError

from tests.api.admin.support import admin, create_project, create_user, grant, user_key
from tests.mcp.client import mcp_session
from tests.mcp.test_governance import rows
from tests.mcp.upstream import GATE, LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import audit_log, mcp_servers

FILE_TOKEN = "Bearer file-secret-token-9876"
API_TOKEN = "Bearer api-secret-token-4321"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackMCP, LoopbackMCP]]:
    with LoopbackMCP("streamable_http", "gh") as gh, LoopbackMCP("streamable_http", "ops") as ops:
        yield gh, ops


@pytest.fixture(scope="module")
def gw(upstreams: tuple[LoopbackMCP, LoopbackMCP]) -> Iterator[RunningGateway]:
    gh, _ = upstreams
    with gateway_from_yaml(f"""
catalog: {{secret_keys: ["{Fernet.generate_key().decode()}"]}}
mcp:
  servers:
    github: {{transport: streamable_http, url: "{gh.url}", headers: {{Authorization: "{FILE_TOKEN}"}}}}
  virtual_servers:
    dev: {{servers: [github]}}
""") as gateway:
        yield gateway


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def call(gw: RunningGateway, vs: str, tool: str, args: dict[str, Any]) -> tuple[list[str], str]:
    async with mcp_session(f"{gw.root}/mcp/{vs}", MASTER_KEY) as s:
        names = sorted(t.name for t in (await s.list_tools()).tools)
        return names, text_of(await s.call_tool(tool, args))


def test_a_server_and_virtual_server_made_in_the_api_are_served_at_once(
    gw: RunningGateway, upstreams: tuple[LoopbackMCP, LoopbackMCP]
) -> None:
    _, ops = upstreams
    server = {"name": "ops", "transport": "streamable_http", "url": ops.url, "headers": {"Authorization": API_TOKEN}}
    virtual = {"name": "ops-tools", "servers": ["ops", "github"], "tools": {"include": ["ops.echo", "github.add"]}}
    with admin(gw) as c:
        assert c.get("/admin/v1/mcp/virtual-servers/ops-tools").status_code == 404
        created = c.post("/admin/v1/mcp/servers", json=server)
        assert created.status_code == 201, created.text
        row = created.json()["data"][0]
        assert row["source"] == "api" and row["healthy"] and row["config"]["headers"] == {"Authorization": "…4321"}
        made = c.post("/admin/v1/mcp/virtual-servers", json=virtual)
        assert made.status_code == 201, made.text
        assert made.json()["data"][0]["endpoints"]["streamable_http"] == "/mcp/ops-tools"

        # callable through the gateway with the SDK's client, no restart
        names, echoed = asyncio.run(call(gw, "ops-tools", "ops.echo", {"text": "hi"}))
        assert names == ["github.add", "ops.echo"] and echoed == "ops:hi"

        listing = c.get("/admin/v1/mcp/servers")
        assert {r["name"]: r["source"] for r in listing.json()["data"]} == {"github": "config", "ops": "api"}
        assert {r["name"]: r["source"] for r in c.get("/admin/v1/mcp/virtual-servers").json()["data"]} == {
            "dev": "config",
            "ops-tools": "api",
        }
        for secret in ("file-secret-token", "api-secret-token"):  # never echoed back
            assert secret not in listing.text and secret not in c.get("/admin/v1/mcp/servers/ops").text

        # replaced: the new URL is a new upstream (here the same server under another name's path is not needed:
        # a new header value suffices to make it a new upstream object)
        old = gw.worker.mcp.upstreams["ops"]  # type: ignore[union-attr]
        replaced = c.put("/admin/v1/mcp/servers/ops", json={**server, "headers": {"X-Team": "platform-ops-1"}})
        assert replaced.status_code == 200, replaced.text
        assert gw.worker.mcp.upstreams["ops"] is not old  # type: ignore[union-attr]
        assert asyncio.run(call(gw, "ops-tools", "ops.echo", {"text": "again"}))[1] == "ops:again"

        assert c.delete("/admin/v1/mcp/servers/ops").status_code == 409  # used by ops-tools
        assert "ops-tools" in c.delete("/admin/v1/mcp/servers/ops").json()["error"]["message"]
        assert c.delete("/admin/v1/mcp/virtual-servers/ops-tools").status_code == 200
        assert c.delete("/admin/v1/mcp/servers/ops").status_code == 200
        assert c.get("/admin/v1/mcp/servers/ops").status_code == 404
        gone = httpx.post(
            f"{gw.root}/mcp/ops-tools",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {MASTER_KEY}", "Accept": "application/json, text/event-stream"},
        )
        assert gone.status_code == 404 and gone.json()["error"]["code"] == -32600  # the existing 404

    stored = gw.run(rows(gw, mcp_servers))
    assert stored == []
    trail = [r for r in gw.run(rows(gw, audit_log)) if r["action"].startswith(("mcp.server", "mcp.virtual"))]
    assert [r["action"] for r in trail] == [
        "mcp.server.create",
        "mcp.virtual_server.create",
        "mcp.server.replace",
        "mcp.virtual_server.delete",
        "mcp.server.delete",
    ]
    assert trail[0]["details"]["headers"] == {"Authorization": "…4321"}
    assert "api-secret-token" not in str(trail)


def test_bodies_are_validated_and_writes_need_a_system_admin(
    gw: RunningGateway, upstreams: tuple[LoopbackMCP, LoopbackMCP]
) -> None:
    _, ops = upstreams
    server = {"name": "side", "transport": "sse", "url": ops.url}
    with admin(gw) as c:
        unknown = c.post("/admin/v1/mcp/servers", json={**server, "colour": "red"})
        assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]
        assert c.post("/admin/v1/mcp/servers", json={**server, "transport": "carrier-pigeon"}).status_code == 400
        assert c.post("/admin/v1/mcp/servers", json={**server, "name": "github"}).status_code == 409  # the file's
        assert c.put("/admin/v1/mcp/servers/github", json={**server, "name": "github"}).status_code == 409
        assert c.delete("/admin/v1/mcp/servers/github").status_code == 409
        assert c.delete("/admin/v1/mcp/virtual-servers/dev").status_code == 409
        assert c.put("/admin/v1/mcp/servers/other", json=server).status_code == 400  # path and body name differ
        assert c.put("/admin/v1/mcp/servers/side", json=server).status_code == 404  # not made here
        stdio = c.post("/admin/v1/mcp/servers", json={"name": "sh", "transport": "stdio", "command": ["sh"]})
        assert stdio.status_code == 400 and "admin_stdio" in stdio.json()["error"]["message"]
        env_ref = c.post("/admin/v1/mcp/servers", json={**server, "headers": {"Authorization": "${HOME}"}})
        assert env_ref.status_code == 400 and env_ref.json()["error"]["param"] == "headers.Authorization"
        vs = {"name": "ghost", "servers": ["nowhere"]}
        missing = c.post("/admin/v1/mcp/virtual-servers", json=vs)
        assert missing.status_code == 400 and "nowhere" in missing.json()["error"]["message"]
        assert c.post("/admin/v1/mcp/virtual-servers", json={**vs, "servers": ["github"], "x": 1}).status_code == 400

        project = create_project(c)
        viewer = create_user(c)
        grant(c, viewer["id"], "system", None, "viewer")
        key = user_key(c, project["id"], viewer["id"])
    with admin(gw, key) as v:
        assert v.get("/admin/v1/mcp/servers").status_code == 200
        assert v.post("/admin/v1/mcp/servers", json=server).status_code == 403
        assert v.post("/admin/v1/mcp/virtual-servers", json={"name": "x", "servers": ["github"]}).status_code == 403
        assert v.delete("/admin/v1/mcp/virtual-servers/dev").status_code == 403


def test_a_call_in_flight_finishes_when_its_servers_are_deleted(
    gw: RunningGateway, upstreams: tuple[LoopbackMCP, LoopbackMCP]
) -> None:
    _, ops = upstreams
    GATE.reset()

    async def go() -> tuple[str, int, int, bool]:
        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        async with httpx.AsyncClient(base_url=gw.root + "/admin/v1/mcp", headers=auth, timeout=30) as c:
            server = {"name": "slow", "transport": "streamable_http", "url": ops.url}
            assert (await c.post("/servers", json=server)).status_code == 201
            assert (await c.post("/virtual-servers", json={"name": "slow-vs", "servers": ["slow"]})).status_code == 201
            old = gw.worker.mcp.upstreams["slow"]  # type: ignore[union-attr]
            async with mcp_session(gw.root + "/mcp/slow-vs", MASTER_KEY) as s:
                await s.list_tools()  # the client checks a result against the listed schema
                pending = asyncio.ensure_future(s.call_tool("slow.gated", {}))
                assert await asyncio.to_thread(GATE.entered.wait, 10)
                gone_vs = (await c.delete("/virtual-servers/slow-vs")).status_code
                gone_server = (await c.delete("/servers/slow")).status_code
                assert old.busy == 1  # still in use: not closed under the call
                GATE.open.set()
                answer = text_of(await pending)
                try:  # the session's next request: the virtual server is gone, a clean JSON-RPC error
                    await s.list_tools()
                    clean = False
                except MCPError as exc:
                    clean = "No virtual MCP server" in str(exc)
            for _ in range(200):  # the old upstream closes once idle (polled, 10 s deadline)
                if old._task is None:
                    break
                await asyncio.sleep(0.05)
            return answer, gone_vs, gone_server, clean and old._task is None

    assert asyncio.run(go()) == ("ops:gated", 200, 200, True)


def test_a_stdio_server_made_in_the_api_is_a_supervised_child_stopped_when_deleted() -> None:
    command = [sys.executable, "-m", "tests.mcp.upstream", "files"]
    with gateway_from_yaml("mcp: {admin_stdio: true}\n") as gateway, admin(gateway) as c:
        assert (
            c.post(
                "/admin/v1/mcp/servers", json={"name": "files", "transport": "stdio", "command": command}
            ).status_code
            == 201
        )
        assert c.post("/admin/v1/mcp/virtual-servers", json={"name": "fs", "servers": ["files"]}).status_code == 201
        names, pid = asyncio.run(call(gateway, "fs", "files.pid", {}))
        assert "files.read_file" in names
        os.kill(int(pid), 0)  # the child runs
        assert c.delete("/admin/v1/mcp/virtual-servers/fs").status_code == 200
        assert c.delete("/admin/v1/mcp/servers/files").status_code == 200
        for _ in range(200):  # stopped once idle (polled, 10 s deadline)
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                break
            asyncio.run(asyncio.sleep(0.05))
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_a_put_keeps_the_stored_secrets_its_body_leaves_out_or_sends_masked(
    gw: RunningGateway, upstreams: tuple[LoopbackMCP, LoopbackMCP]
) -> None:
    """As the catalog keeps a provider's key: a client that PUTs back what GET showed (secrets masked), or leaves
    the headers out, does not wipe them. An explicit map replaces them; a mask that stands for nothing is a 400."""
    _, ops = upstreams
    team = "team-secret-value-77"
    server = {
        "name": "kept",
        "transport": "streamable_http",
        "url": ops.url,
        "headers": {"Authorization": API_TOKEN, "X-Team": team},
    }

    def served() -> dict[str, str]:
        return dict(gw.worker.mcp.upstreams["kept"].config.headers)  # type: ignore[union-attr]

    with admin(gw) as c:
        assert c.post("/admin/v1/mcp/servers", json=server).status_code == 201
        # headers left out: kept whole (and the rest of the entry is the body's)
        left_out = {k: v for k, v in server.items() if k != "headers"} | {"connect_timeout_s": 7}
        assert c.put("/admin/v1/mcp/servers/kept", json=left_out).status_code == 200
        assert served() == {"Authorization": API_TOKEN, "X-Team": team}
        assert gw.worker.mcp.upstreams["kept"].config.connect_timeout_s == 7  # type: ignore[union-attr]
        # what GET shows, PUT back as it is: the masked values stand for the stored ones
        shown = c.get("/admin/v1/mcp/servers/kept").json()["data"][0]["config"]
        assert shown["headers"] == {"Authorization": "…4321", "X-Team": "…e-77"}
        assert c.put("/admin/v1/mcp/servers/kept", json={**shown, "name": "kept"}).status_code == 200
        assert served() == {"Authorization": API_TOKEN, "X-Team": team}
        # an explicit map is the body's: a masked value keeps its header, a key left out of it is dropped
        mixed = {**server, "headers": {"Authorization": "…4321", "X-New": "new-value"}}
        assert c.put("/admin/v1/mcp/servers/kept", json=mixed).status_code == 200
        assert served() == {"Authorization": API_TOKEN, "X-New": "new-value"}
        # a mask that stands for no stored value (another secret's, or a header never stored) is refused
        for headers in ({"Authorization": "…0000"}, {"X-Other": "…4321"}, {"X-Other": "…"}):
            refused = c.put("/admin/v1/mcp/servers/kept", json={**server, "headers": headers})
            assert refused.status_code == 400 and refused.json()["error"]["param"] == f"headers.{next(iter(headers))}"
        assert served() == {"Authorization": API_TOKEN, "X-New": "new-value"}  # nothing changed
        masked_new = {**server, "name": "masked", "headers": {"Authorization": "…4321"}}
        assert c.post("/admin/v1/mcp/servers", json=masked_new).status_code == 400  # nothing to stand for
        # {} removes them
        assert c.put("/admin/v1/mcp/servers/kept", json={**server, "headers": {}}).status_code == 200
        assert served() == {}
        assert c.delete("/admin/v1/mcp/servers/kept").status_code == 200
    trail = [r for r in gw.run(rows(gw, audit_log)) if r["target"] == "kept"]
    assert API_TOKEN not in str(trail) and team not in str(trail)
