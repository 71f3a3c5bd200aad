"""Admin routes of the MCP gateway: upstream servers with this worker's view of their health, virtual servers, tool
policies (the config file's, and those made here: created, replaced and deleted, audited, and re-read by every
worker and replica), and recent tool calls from the ledger. Servers and virtual servers made here are created,
replaced and deleted in mcp_servers.py."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, query, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.mcp_servers import MCPRows, server_row, virtual_row
from wardgate.api.admin.mcp_servers import operations as server_operations
from wardgate.api.admin.schemas import Deleted
from wardgate.assemble import Worker
from wardgate.config.mcp import ToolPolicyConfig
from wardgate.core.errors import NotFound
from wardgate.store.mcp_tool_policies import ToolPolicyStore
from wardgate.store.tables import usage_events

MAX_CALLS = 500


class ToolPolicyBody(ToolPolicyConfig):
    """A tool policy, as in the config file's `tool_policies:` (name, scope, match, allow and deny globs)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MCPRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.policies = ToolPolicyStore(services.engine)

    def _servers(self) -> list[dict[str, Any]]:
        mcp = self.services.mcp
        return [server_row(mcp, name) for name in list(mcp.upstreams)] if mcp is not None else []

    def _virtual(self) -> list[dict[str, Any]]:
        mcp = self.services.mcp
        return [virtual_row(mcp, name) for name in list(mcp.virtual_servers)] if mcp is not None else []

    async def servers(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        return reply(MCPRows(data=self._servers()))

    async def server(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        return reply(MCPRows(data=_one(self._servers(), request.path_params["name"], "MCP server")))

    async def virtual_servers(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        return reply(MCPRows(data=self._virtual()))

    async def virtual_server(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        return reply(MCPRows(data=_one(self._virtual(), request.path_params["name"], "virtual MCP server")))

    async def tool_policies(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        rows = [{**p.model_dump(mode="json"), "source": "config"} for p in self.services.settings.tool_policies]
        names = {r["name"] for r in rows}
        stored = [raw for _, raw in await self.policies.list() if isinstance(raw, dict)]  # damaged rows: not shown
        rows += [{**raw, "source": "api"} for raw in stored if raw.get("name") not in names]
        return reply(MCPRows(data=rows))

    async def create_policy(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        policy = await read_body(request, ToolPolicyBody)
        if policy.name in {p.name for p in self.services.settings.tool_policies}:
            raise Conflict(f"tool policy {policy.name!r} is defined in the config file")
        stored = policy.model_dump(mode="json")
        await self.policies.create(stored)
        await self._announce()
        record(self.services, actor, "mcp.tool_policy.create", policy.name, stored)
        return reply(MCPRows(data=[{**stored, "source": "api"}]), 201)

    async def replace_policy(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        policy = await read_body(request, ToolPolicyBody)
        if policy.name != name:
            raise bad_param("name", f"must be {name[:100]!r} (the tool policy in the path)")
        stored = policy.model_dump(mode="json")
        await self.policies.replace(name, stored)
        await self._announce()
        record(self.services, actor, "mcp.tool_policy.replace", name, stored)
        return reply(MCPRows(data=[{**stored, "source": "api"}]))

    async def delete_policy(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        await self.policies.delete(name)
        await self._announce()
        record(self.services, actor, "mcp.tool_policy.delete", name, {})
        return reply(Deleted(object="tool_policy", id=name))

    async def _announce(self) -> None:
        """This worker applies the change at once; every other worker and replica when announced (or within
        limits.refresh_s)."""
        if self.services.mcp is not None:
            await self.services.mcp.reload_managed()
        await self.services.announce_limits()

    async def tool_calls(self, request: Request) -> Response:
        (await authenticate(request, self.services)).require_system("viewer")
        raw = query(request, "limit") or "50"
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_CALLS:
            raise bad_param("limit", f"must be an integer from 1 to {MAX_CALLS}")
        t = usage_events.c
        statement = (
            select(t.request_id, t.ts, t.principal_kind, t.principal_id, t.project_id, t.operation, t.model)
            .add_columns(t.status, t.error_code, t.latency_ms, t.cost_nanousd, t.details)
            .where(t.surface == "mcp")
            .order_by(t.ts.desc())
            .limit(int(raw))
        )
        async with self.services.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(statement)).mappings()]
        for row in rows:
            row["ts"] = row["ts"].isoformat()
            row["name"] = row.pop("model")
        return reply(MCPRows(data=rows))


def _one(rows: list[dict[str, Any]], name: str, what: str) -> list[dict[str, Any]]:
    found = [r for r in rows if r["name"] == name]
    if not found:
        raise NotFound(f"no {what} {name[:100]!r}")
    return found


def operations(services: Worker) -> list[Operation]:
    r = MCPRoutes(services)
    limit = QueryParam(
        "limit",
        f"how many, newest first (1-{MAX_CALLS}, default 50)",
        {"type": "string", "pattern": "^([1-9][0-9]{0,1}|[1-4][0-9]{2}|500)$"},
    )
    errors = (401, 403)
    return [
        Operation(
            "GET",
            "/admin/v1/mcp/servers",
            "MCP upstream servers and their health",
            "mcp",
            r.servers,
            MCPRows,
            errors=errors,
        ),
        Operation("GET", "/admin/v1/mcp/servers/{name}", "One MCP upstream server", "mcp", r.server, MCPRows),
        Operation(
            "GET",
            "/admin/v1/mcp/virtual-servers",
            "Virtual MCP servers",
            "mcp",
            r.virtual_servers,
            MCPRows,
            errors=errors,
        ),
        Operation(
            "GET", "/admin/v1/mcp/virtual-servers/{name}", "One virtual MCP server", "mcp", r.virtual_server, MCPRows
        ),
        *server_operations(services),
        Operation(
            "GET",
            "/admin/v1/mcp/tool-policies",
            "Tool policies: the config file's and those made here",
            "mcp",
            r.tool_policies,
            MCPRows,
            errors=errors,
        ),
        Operation(
            "POST",
            "/admin/v1/mcp/tool-policies",
            "Create a tool policy; every worker applies it at once or within limits.refresh_s (system admin)",
            "mcp",
            r.create_policy,
            MCPRows,
            201,
            ToolPolicyBody,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "PUT",
            "/admin/v1/mcp/tool-policies/{name}",
            "Replace a tool policy made here (system admin)",
            "mcp",
            r.replace_policy,
            MCPRows,
            body=ToolPolicyBody,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "DELETE",
            "/admin/v1/mcp/tool-policies/{name}",
            "Delete a tool policy made here (system admin)",
            "mcp",
            r.delete_policy,
            Deleted,
        ),
        Operation(
            "GET",
            "/admin/v1/mcp/tool-calls",
            "Recent MCP calls from the ledger",
            "mcp",
            r.tool_calls,
            MCPRows,
            query=(limit,),
            errors=(400, 401, 403),
        ),
    ]
