"""Governance of tool calls through a real gateway: tool policies (list = call), per-tool rate limits, price_usd
against budgets, and the ledger row and audit entry of every call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import orjson
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from tests.mcp.client import mcp_session
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import audit_log, usage_events


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackMCP]:
    with LoopbackMCP("streamable_http", "gh") as http:
        yield http


def gateway(upstream: LoopbackMCP, extra: str = "") -> RunningGateway:
    return gateway_from_yaml(f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{upstream.url}"}}
  virtual_servers:
    dev:
      servers: [github]
      tools:
        exclude: ["github.hang", "github.crash", "github.count", "github.wait_for", "github.release", "github.gated"]
  tools:
    github.add: {{price_usd: 0.002}}
{extra}
""")


def make_key(gw: RunningGateway, project: str) -> str:
    async def make() -> str:
        p = await gw.worker.tenancy.create_project(project)
        secret, _ = await gw.worker.keys.create(p.id)
        return secret

    return gw.run(make())


async def listed(gw: RunningGateway, key: str) -> set[str]:
    async with mcp_session(gw.root + "/mcp/dev", key) as s:
        return {t.name for t in (await s.list_tools()).tools}


async def outcomes(gw: RunningGateway, key: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    out: list[Any] = []
    async with mcp_session(gw.root + "/mcp/dev", key) as s:
        for name, args in calls:
            try:
                result = await s.call_tool(name, args)
                out.append("error" if result.is_error else "ok")
            except MCPError as exc:
                out.append(exc.code)
    return out


async def rows(gw: RunningGateway, table: Any) -> list[dict[str, Any]]:
    """The table's rows (run on the gateway's loop: its writers and engine live there); audit details parsed."""
    await gw.worker.ledger.flush()
    await gw.worker.audit.flush()
    async with gw.worker.engine.connect() as conn:
        out = [dict(r) for r in (await conn.execute(select(table))).mappings()]
    if table is audit_log:
        for row in out:
            row["details"] = orjson.loads(row["details"])
    return out


ALL = {"github.echo", "github.add", "github.delete_repo", "github.read_file", "github.pid"}
ARGS = {"github.echo": {"text": "x"}, "github.add": {"a": 1, "b": 2}, "github.delete_repo": {"repo": "r"}}


def test_a_policy_hides_exactly_what_it_refuses(upstream: LoopbackMCP) -> None:
    policies = """
tool_policies:
  - {name: acme-tools, scope: project, match: acme, allow: ["github.*"], deny: ["github.delete_*", "github.add"]}
  - {name: everyone, scope: global, deny: ["github.read_file"]}
"""
    with gateway(upstream, policies) as gw:
        acme = make_key(gw, "acme")
        other = make_key(gw, "other")
        assert asyncio.run(listed(gw, acme)) == {"github.echo", "github.pid"}
        assert asyncio.run(listed(gw, other)) == ALL - {"github.read_file"}
        assert asyncio.run(listed(gw, MASTER_KEY)) == ALL - {"github.read_file"}
        names = sorted(ALL)
        got = asyncio.run(outcomes(gw, acme, [(n, ARGS.get(n, {"path": "p"})) for n in names]))
        callable_ = {n for n, o in zip(names, got, strict=True) if o == "ok"}
        assert callable_ == {"github.echo", "github.pid"}
        assert {o for o in got if o != "ok"} == {-32003}  # a JSON-RPC error naming the refusal
        audit = [r for r in gw.run(rows(gw, audit_log)) if r["action"] == "mcp.tools/call"]
        refused = [r for r in audit if r["details"]["outcome"] == "refused"]
        assert sorted(r["details"]["name"] for r in refused) == ["github.add", "github.delete_repo", "github.read_file"]


@pytest.mark.parametrize("writer", ["inline", "process"])  # process: decision 063's store writer process
def test_the_ledger_and_audit_record_every_call_with_its_price(upstream: LoopbackMCP, writer: str) -> None:
    with gateway(upstream, f"ledger: {{writer: {writer}}}") as gw:
        key = make_key(gw, "acme")
        assert asyncio.run(outcomes(gw, key, [("github.add", {"a": 1, "b": 2}), ("github.echo", {"text": "s3cret"})]))
        ledger = sorted((r for r in gw.run(rows(gw, usage_events)) if r["surface"] == "mcp"), key=lambda r: r["model"])
        assert [(r["model"], r["operation"], r["cost_nanousd"], r["billable"]) for r in ledger] == [
            ("github.add", "tools/call", 2_000_000, True),
            ("github.echo", "tools/call", 0, True),
        ]
        assert ledger[0]["details"]["mcp"] == {"virtual_server": "dev", "server": "github"}
        audit = [r for r in gw.run(rows(gw, audit_log)) if r["action"] == "mcp.tools/call"]
        assert len(audit) == 2
        echo = next(r for r in audit if r["details"]["name"] == "github.echo")
        assert echo["target"] == "dev/github.echo" and echo["actor"].startswith("key:")
        assert echo["details"]["outcome"] == "ok" and len(echo["details"]["arguments_sha256"]) == 64
        assert "s3cret" not in str(echo["details"])  # a digest, not the arguments (mcp.audit_arguments: false)


def test_price_usd_is_charged_to_the_callers_budget(upstream: LoopbackMCP) -> None:
    budgets = """
budgets:
  - {name: acme-tools, scope: project, match: acme, window: day, limit_usd: 0.005, cap: hard}
"""
    with gateway(upstream, budgets) as gw:
        key = make_key(gw, "acme")
        add = ("github.add", {"a": 1, "b": 1})
        got = asyncio.run(outcomes(gw, key, [add, add, add, ("github.echo", {"text": "free"})]))
        assert got == ["ok", "ok", -32029, "ok"]  # 0.002 × 2 spent; a third would pass 0.005; a free tool still runs


def test_a_per_tool_rate_limit_is_exact(upstream: LoopbackMCP) -> None:
    limits = """
rate_limits:
  - {name: add-rpm, scope: tool, match: github.add, rpm: 3}
"""
    with gateway(upstream, limits) as gw:
        add = ("github.add", {"a": 1, "b": 1})
        echo = ("github.echo", {"text": "x"})
        got = asyncio.run(outcomes(gw, MASTER_KEY, [add, add, echo, add, add, echo]))
        assert got == ["ok", "ok", "ok", "ok", -32029, "ok"]


def test_the_session_id_is_signed_and_deleted_everywhere(upstream: LoopbackMCP) -> None:
    import httpx

    with gateway(upstream) as gw:
        url = gw.root + "/mcp/dev"
        headers = {"Authorization": f"Bearer {MASTER_KEY}", "Accept": "application/json, text/event-stream"}
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
        with httpx.Client(timeout=10) as http:
            first = http.post(url, json=init, headers=headers)
            session = first.headers["mcp-session-id"]
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            with_session = {**headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
            assert http.post(url, json=ping, headers=with_session).status_code == 200
            other = make_key(gw, "other")
            stolen = {**with_session, "Authorization": f"Bearer {other}"}
            assert http.post(url, json=ping, headers=stolen).status_code == 404  # another caller's session
            assert http.delete(url, headers=with_session).status_code == 204
            assert http.post(url, json=ping, headers=with_session).status_code == 404


def test_tool_results_are_the_upstreams(upstream: LoopbackMCP) -> None:
    async def go(gw: RunningGateway) -> types.CallToolResult:
        async with mcp_session(gw.root + "/mcp/dev", MASTER_KEY) as s:
            return await s.call_tool("github.add", {"a": 40, "b": 2})

    with gateway(upstream) as gw:
        result = asyncio.run(go(gw))
    assert result.structured_content == {"result": 42}
