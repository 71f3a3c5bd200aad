"""Admin routes that create, replace and delete MCP upstream servers and virtual servers (decision 057): stored in
the shared store, audited, and served by every worker and replica without a restart (the writing worker at once,
the others when the change is announced or within limits.refresh_s). The config file's objects are read-only here.

A body is the config file's ``mcp.servers.<name>`` or ``mcp.virtual_servers.<name>`` entry with its ``name``,
validated by the same models. A server's headers, env and OAuth client secret are stored encrypted (the catalog's
keys) and never shown or audited in clear; ``${VAR}`` is refused, since database values are never interpolated.
A ``PUT`` keeps the stored secrets its body leaves out or sends masked, as the catalog keeps a provider's
(mcp/stored.py ``with_kept_secrets``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, bad_param, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.schemas import Deleted
from wardgate.assemble import Worker
from wardgate.config.mcp import (
    ServerName,
    SSEServerConfig,
    StdioServerConfig,
    StreamableHTTPServerConfig,
    VirtualServerConfig,
)
from wardgate.config.secrets import SECRET_KEYS_ENV, SecretBox, SecretsUnavailable
from wardgate.mcp.stored import MaskedSecret, is_hint, masked, public_of, secrets_of, with_kept_secrets
from wardgate.store.mcp_servers import MCPServerStore, StoredMCP

if TYPE_CHECKING:
    from wardgate.mcp.surface import MCPSurface


MASKED = "is a masked value (as GET shows it) that stands for no stored secret: send the value itself"


def _keeping(raw: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    try:
        return with_kept_secrets(raw, kept)
    except MaskedSecret as exc:
        raise bad_param(exc.path, MASKED) from None


class MCPRows(BaseModel):
    """MCP objects; their fields are described in docs/mcp.md."""

    model_config = ConfigDict(extra="allow")
    data: list[dict[str, Any]]


class StreamableHTTPServerBody(StreamableHTTPServerConfig):
    name: ServerName


class SSEServerBody(SSEServerConfig):
    name: ServerName


class StdioServerBody(StdioServerConfig):
    name: ServerName


class ServerBody(
    RootModel[Annotated[StreamableHTTPServerBody | SSEServerBody | StdioServerBody, Field(discriminator="transport")]]
):
    """An upstream MCP server, as the config file's ``mcp.servers.<name>`` (``transport`` first) with its name."""


class VirtualServerBody(VirtualServerConfig):
    """A virtual MCP server, as the config file's ``mcp.virtual_servers.<name>``, with its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ServerName


def server_row(surface: MCPSurface, name: str) -> dict[str, Any]:
    """One server as GET shows it: this worker's view of its health, where it came from, and its masked config."""
    upstream = surface.upstreams[name]
    source = surface.mounts.source.get(("server", name), "api")
    return {**upstream.describe(), "source": source, "config": masked(upstream.config)}


def virtual_row(surface: MCPSurface, name: str) -> dict[str, Any]:
    vs = surface.virtual_servers[name]
    return {**vs.describe(), "source": surface.mounts.source.get(("virtual_server", name), "api")}


class MCPServerRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = MCPServerStore(services.engine)

    def _surface(self) -> MCPSurface:
        if self.services.mcp is None or self.services.settings.mcp is None:
            raise Conflict("the MCP gateway is off: add `mcp:` to the config file (docs/mcp.md)")
        return self.services.mcp

    async def _actor(self, request: Request) -> AdminActor:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        return actor

    # -- servers -----------------------------------------------------------------------------------------------

    async def create_server(self, request: Request) -> Response:
        actor = await self._actor(request)
        body = (await read_body(request, ServerBody)).root
        surface = self._surface()
        self._writable("server", body.name, replace=False)
        entry = self._server_entry(body, actor)
        await self.store.create(entry)
        return await self._changed(actor, "mcp.server.create", entry, masked(body), 201, surface)

    async def replace_server(self, request: Request) -> Response:
        actor = await self._actor(request)
        name = request.path_params["name"]
        kept = await self._stored_secrets(name)
        body = (await read_body(request, ServerBody, before=lambda raw: _keeping(raw, kept))).root
        surface = self._surface()
        if body.name != name:
            raise bad_param("name", f"must be {name[:100]!r} (the MCP server in the path)")
        self._writable("server", name, replace=True)
        entry = self._server_entry(body, actor)
        await self.store.replace(entry)
        return await self._changed(actor, "mcp.server.replace", entry, masked(body), 200, surface)

    async def delete_server(self, request: Request) -> Response:
        actor = await self._actor(request)
        surface = self._surface()
        name = request.path_params["name"]
        self._writable("server", name, replace=True)
        users = [r.name for r in await self.store.entries() if r.kind == "virtual_server" and _names(r, name)]
        if users:
            raise Conflict(f"MCP server {name!r} is used by virtual server {users[0]!r}; change or delete that first")
        await self.store.delete("server", name)
        await self._announce(surface)
        record(self.services, actor, "mcp.server.delete", name, {})
        return reply(Deleted(object="mcp_server", id=name))

    async def _stored_secrets(self, name: str) -> dict[str, Any]:
        """The stored server's secrets, which a PUT keeps where its body leaves them out or sends them masked;
        none when it has none, is not stored here, or no key opens them (then only the body's count)."""
        for row in await self.store.entries():
            if row.kind == "server" and row.name == name and row.secrets is not None:
                try:
                    return dict(SecretBox.of(self.services.settings).open(row.secrets))
                except SecretsUnavailable:
                    return {}
        return {}

    def _server_entry(self, body: Any, actor: AdminActor) -> StoredMCP:
        file = self.services.settings.mcp
        assert file is not None
        if isinstance(body, StdioServerConfig) and not file.admin_stdio:
            raise bad_param(
                "transport",
                "stdio servers run a command on the gateway's hosts: define them in the config file, or set "
                "mcp.admin_stdio: true",
            )
        secrets = secrets_of(body)
        for field in ("headers", "env"):
            for key, value in secrets.get(field, {}).items():
                if is_hint(value):
                    raise bad_param(f"{field}.{key}", MASKED)
                if "${" in value:
                    raise bad_param(
                        f"{field}.{key}",
                        "${VAR} is not interpolated in the admin API (it would expose the gateway's environment); "
                        "give the value itself: it is stored encrypted",
                    )
        if is_hint(secrets.get("oauth.client_secret")):
            raise bad_param("oauth.client_secret", MASKED)
        sealed = None
        if secrets:
            try:
                sealed = SecretBox.of(self.services.settings).seal(secrets)
            except SecretsUnavailable:
                raise bad_param(
                    sorted(secrets)[0],
                    f"cannot be stored: no key encrypts secrets; set catalog.secret_keys or {SECRET_KEYS_ENV} on "
                    "every replica",
                ) from None
        public = {k: v for k, v in public_of(body).items() if k != "name"}
        public["transport"] = body.transport
        return StoredMCP("server", body.name, public, sealed, f"admin:{actor.id}"[:200])

    # -- virtual servers ---------------------------------------------------------------------------------------

    async def create_virtual(self, request: Request) -> Response:
        actor = await self._actor(request)
        body = await read_body(request, VirtualServerBody)
        surface = self._surface()
        self._writable("virtual_server", body.name, replace=False)
        entry = await self._virtual_entry(body, actor)
        await self.store.create(entry)
        return await self._changed(actor, "mcp.virtual_server.create", entry, entry.config, 201, surface)

    async def replace_virtual(self, request: Request) -> Response:
        actor = await self._actor(request)
        name = request.path_params["name"]
        body = await read_body(request, VirtualServerBody)
        surface = self._surface()
        if body.name != name:
            raise bad_param("name", f"must be {name[:100]!r} (the virtual MCP server in the path)")
        self._writable("virtual_server", name, replace=True)
        entry = await self._virtual_entry(body, actor)
        await self.store.replace(entry)
        return await self._changed(actor, "mcp.virtual_server.replace", entry, entry.config, 200, surface)

    async def delete_virtual(self, request: Request) -> Response:
        actor = await self._actor(request)
        surface = self._surface()
        name = request.path_params["name"]
        self._writable("virtual_server", name, replace=True)
        await self.store.delete("virtual_server", name)
        await self._announce(surface)
        record(self.services, actor, "mcp.virtual_server.delete", name, {})
        return reply(Deleted(object="mcp_virtual_server", id=name))

    async def _virtual_entry(self, body: VirtualServerBody, actor: AdminActor) -> StoredMCP:
        file = self.services.settings.mcp
        assert file is not None
        known = set(file.servers) | {r.name for r in await self.store.entries() if r.kind == "server"}
        unknown = [s for s in body.servers if s not in known]
        if unknown:
            raise bad_param("servers", f"{', '.join(unknown)[:200]}: no such MCP server")
        public = {k: v for k, v in public_of(body).items() if k != "name"}
        public["servers"] = list(body.servers)
        return StoredMCP("virtual_server", body.name, public, None, f"admin:{actor.id}"[:200])

    # -- shared ------------------------------------------------------------------------------------------------

    def _writable(self, kind: str, name: str, *, replace: bool) -> None:
        file = self.services.settings.mcp
        assert file is not None
        defined = file.servers if kind == "server" else file.virtual_servers
        if name in defined:
            noun = "MCP server" if kind == "server" else "virtual MCP server"
            verb = "changed" if replace else "created"
            raise Conflict(f"{noun} {name!r} is defined in the config file; it cannot be {verb} here")

    async def _changed(
        self,
        actor: AdminActor,
        action: str,
        entry: StoredMCP,
        shown: dict[str, Any],
        status: int,
        surface: MCPSurface,
    ) -> Response:
        await self._announce(surface)
        details = {k: v for k, v in shown.items() if k != "name"}
        record(self.services, actor, action, entry.name, details)
        live = surface.upstreams if entry.kind == "server" else surface.virtual_servers
        if entry.name in live:
            row = server_row(surface, entry.name) if entry.kind == "server" else virtual_row(surface, entry.name)
        else:  # stored, but this worker could not serve it (the log says why)
            row = {"name": entry.name, "source": "api", "config": details}
        return reply(MCPRows(data=[row]), status)

    async def _announce(self, surface: MCPSurface) -> None:
        """This worker serves the change at once; every other worker and replica when announced (or within
        limits.refresh_s)."""
        await surface.reload_managed()
        await self.services.announce_limits()


def _names(row: StoredMCP, server: str) -> bool:
    servers = row.config.get("servers") if isinstance(row.config, dict) else None
    return isinstance(servers, list) and server in servers


def operations(services: Worker) -> list[Operation]:
    r = MCPServerRoutes(services)
    out = []
    for kind, path, body, noun, keeps in (
        ("server", "/admin/v1/mcp/servers", ServerBody, "an MCP upstream server", "; secrets left out are kept"),
        ("virtual", "/admin/v1/mcp/virtual-servers", VirtualServerBody, "a virtual MCP server", ""),
    ):
        out += [
            Operation(
                "POST",
                path,
                f"Create {noun}; every worker and replica serves it at once or within limits.refresh_s (system admin)",
                "mcp",
                getattr(r, f"create_{kind}"),
                MCPRows,
                201,
                body,
                errors=(400, 401, 403, 409),
            ),
            Operation(
                "PUT",
                path + "/{name}",
                f"Replace {noun} made here{keeps}; the old one drains its calls, then closes (system admin)",
                "mcp",
                getattr(r, f"replace_{kind}"),
                MCPRows,
                body=body,
                errors=(400, 401, 403, 404, 409),
            ),
            Operation(
                "DELETE",
                path + "/{name}",
                f"Delete {noun} made here; calls in flight finish first (system admin)",
                "mcp",
                getattr(r, f"delete_{kind}"),
                Deleted,
                errors=(401, 403, 404, 409),
            ),
        ]
    return out
