"""The `mcp:` and `tool_policies:` config sections (docs/mcp.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ServerName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# a tool's canonical name is <server>.<tool>: the server part holds no dot, so the split is unambiguous
ToolName = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_./-]+$")]
Glob = Annotated[str, Field(min_length=1, max_length=200)]
PolicyScope = Literal["global", "project", "team", "user", "key"]
MAX_TOOL_PRICE_USD = Decimal(10_000)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HTTPServer(_Frozen):
    url: Annotated[str, Field(min_length=1, pattern=r"^https?://")]
    headers: dict[str, str] = Field(default_factory=dict)  # sent on every upstream request (secrets via ${VAR})
    connect_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0


class StreamableHTTPServerConfig(_HTTPServer):
    transport: Literal["streamable_http"]


class SSEServerConfig(_HTTPServer):
    transport: Literal["sse"]


class StdioServerConfig(_Frozen):
    transport: Literal["stdio"]
    command: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)  # added to a minimal environment (PATH, HOME …)
    cwd: str | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    max_restart_backoff_s: Annotated[float, Field(gt=0, le=600)] = 30.0


MCPServerConfig = Annotated[
    StreamableHTTPServerConfig | SSEServerConfig | StdioServerConfig, Field(discriminator="transport")
]


class ToolFilter(_Frozen):
    """Globs over canonical tool names (``<server>.<tool>``): included unless excluded."""

    include: tuple[Glob, ...] = ("*",)
    exclude: tuple[Glob, ...] = ()


class VirtualServerConfig(_Frozen):
    servers: Annotated[tuple[ServerName, ...], Field(min_length=1)]
    tools: ToolFilter = ToolFilter()
    # true: tools are listed as <server><separator><tool>; false: as the upstream names them (a clash is an error
    # at load: two upstreams may not offer the same name in one virtual server then)
    prefix: bool = True
    separator: Literal[".", "__"] = "."  # "__" for clients that only accept [A-Za-z0-9_-] in tool names


class ToolConfig(_Frozen):
    price_usd: Annotated[Decimal, Field(ge=0, le=MAX_TOOL_PRICE_USD, allow_inf_nan=False)] = Decimal(0)
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0

    @field_validator("price_usd")
    @classmethod
    def _nano(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal(1).scaleb(-9)):
            raise ValueError("at most 9 decimal places (budgets count in nano-dollars)")
        return value


class MCPConfig(_Frozen):
    servers: dict[ServerName, MCPServerConfig] = Field(default_factory=dict)
    virtual_servers: dict[ServerName, VirtualServerConfig] = Field(default_factory=dict)
    tools: dict[ToolName, ToolConfig] = Field(default_factory=dict)
    default_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0  # a tool with no `tools:` entry
    max_message_bytes: Annotated[int, Field(gt=0, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    audit_arguments: bool = False  # true: the audit entry holds the arguments, not only their SHA-256
    session_ttl_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = 86_400.0  # a signed session id's lifetime
    tools_cache_s: Annotated[float, Field(ge=0, le=3600)] = 30.0  # how long an upstream's tool list is reused

    @model_validator(mode="after")
    def _known_servers(self) -> MCPConfig:
        for name, virtual in self.virtual_servers.items():
            unknown = [s for s in virtual.servers if s not in self.servers]
            if unknown:
                known = ", ".join(sorted(self.servers)) or "none"
                raise ValueError(f"virtual_servers.{name}.servers: {', '.join(unknown)} not in mcp.servers ({known})")
        for tool in self.tools:
            if tool.split(".", 1)[0] not in self.servers:
                raise ValueError(f"tools.{tool}: the part before the first '.' must name a server in mcp.servers")
        return self


class ToolPolicyConfig(_Frozen):
    """Which tools a scope may list and call: a tool must match an ``allow`` glob and no ``deny`` glob of every
    policy that applies to the caller. ``tools/list`` and ``tools/call`` both ask this one question."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    scope: PolicyScope
    match: str | None = None  # one scope value (a project name or id …); unset: every value of the scope
    allow: tuple[Glob, ...] = ("*",)
    deny: tuple[Glob, ...] = ()

    @model_validator(mode="after")
    def _global(self) -> ToolPolicyConfig:
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global policy has no `match`")
        return self
