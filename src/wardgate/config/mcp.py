"""The `mcp:` and `tool_policies:` config sections (docs/mcp.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

ServerName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# a tool's canonical name is <server>.<tool>: the server part holds no dot, so the split is unambiguous
ToolName = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_./-]+$")]
Glob = Annotated[str, Field(min_length=1, max_length=200)]
PolicyScope = Literal["global", "project", "team", "user", "key"]
MAX_TOOL_PRICE_USD = Decimal(10_000)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# what the gateway answers an upstream's elicitation/create (it has no person to ask; docs/mcp.md): "refuse" does
# not declare the capability and answers a JSON-RPC error, "decline" answers action=decline, "defaults" accepts a
# form whose every required field has a default, with the schema's defaults (SEP-1034), and declines any other
ElicitationPolicy = Literal["refuse", "decline", "defaults"]
Scope = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]  # RFC 6749 §3.3


class OAuthClientConfig(_Frozen):
    """Wardgate as the OAuth client of an upstream that answers 401 (the MCP authorization spec): discovery of the
    protected resource and authorization server metadata, then a token by ``grant``. The client is a pre-registered
    one (``client_id``), else the client ID metadata document at ``client_metadata_url`` when the authorization
    server supports those, else one registered dynamically (RFC 7591). Tokens are kept in Redis (sealed with the
    master key) when configured, so every replica uses the one token (docs/mcp.md)."""

    # authorization_code: PKCE, completed without a person (the authorization server must redirect straight back
    # with a code, as it does for a client whose consent is pre-granted); client_credentials: machine to machine
    grant: Literal["authorization_code", "client_credentials"] = "authorization_code"
    client_id: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    client_secret: SecretStr | None = None
    # unset: client_secret_basic with a secret, none without
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] | None = None
    client_metadata_url: Annotated[str, Field(pattern=r"^https://[^/]+/.+")] | None = None
    client_name: Annotated[str, Field(min_length=1, max_length=200)] = "Wardgate"
    # client_credentials only: the scopes requested (authorization_code requests what the upstream's challenge or
    # metadata names, as the MCP spec's scope selection says)
    scopes: tuple[Scope, ...] | None = None
    # client_credentials (required): the issuer of the authorization server the client belongs to; the flow stops
    # when the upstream's metadata leads to another one, so the secret goes nowhere else
    issuer: Annotated[str, Field(pattern=r"^https?://")] | None = None
    redirect_uri: Annotated[str, Field(pattern=r"^https?://")] = "http://localhost/oauth/callback"
    max_redirects: Annotated[int, Field(ge=1, le=20)] = 5  # within the authorization server, before the callback

    @model_validator(mode="after")
    def _complete(self) -> OAuthClientConfig:
        if self.client_secret is not None and self.client_id is None:
            raise ValueError("client_secret needs client_id")
        if self.grant == "client_credentials" and (
            self.client_id is None or self.client_secret is None or self.issuer is None
        ):
            # without issuer the upstream's metadata would decide where the client's secret is sent
            raise ValueError("grant client_credentials needs client_id, client_secret and issuer")
        method = self.token_endpoint_auth_method
        if method in ("client_secret_basic", "client_secret_post") and self.client_secret is None:
            raise ValueError(f"token_endpoint_auth_method {method} needs client_secret")
        if self.grant != "client_credentials" and (self.scopes is not None or self.issuer is not None):
            raise ValueError("scopes and issuer apply to grant client_credentials")
        if self.grant == "client_credentials" and method == "none":
            raise ValueError("grant client_credentials authenticates the client: token_endpoint_auth_method none")
        return self


class _HTTPServer(_Frozen):
    url: Annotated[str, Field(min_length=1, pattern=r"^https?://")]
    headers: dict[str, str] = Field(default_factory=dict)  # sent on every upstream request (secrets via ${VAR})
    connect_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    oauth: OAuthClientConfig | None = None
    elicitation: ElicitationPolicy = "refuse"


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
    elicitation: ElicitationPolicy = "refuse"
    max_restart_backoff_s: Annotated[float, Field(gt=0, le=600)] = 30.0


MCPServerConfig = Annotated[
    StreamableHTTPServerConfig | SSEServerConfig | StdioServerConfig, Field(discriminator="transport")
]


class ToolFilter(_Frozen):
    """Globs over canonical names (``<server>.<tool>``, ``<server>.<prompt>``, ``<server>.<resource URI or URI
    template>``): included unless excluded."""

    include: tuple[Glob, ...] = ("*",)
    exclude: tuple[Glob, ...] = ()


class VirtualServerConfig(_Frozen):
    servers: Annotated[tuple[ServerName, ...], Field(min_length=1)]
    tools: ToolFilter = ToolFilter()
    resources: ToolFilter = ToolFilter()  # resources and resource templates: globs over <server>.<uri>
    prompts: ToolFilter = ToolFilter()
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
    # how long an upstream's tool, resource, resource template and prompt lists are reused
    tools_cache_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    list_page_size: Annotated[int, Field(ge=1, le=10_000)] = 100  # items per page of tools/list, resources/list …
    # a downstream SSE stream's events, kept for Last-Event-ID resumption: for this long after its last event …
    stream_retention_s: Annotated[float, Field(ge=1, le=86_400)] = 300.0
    stream_max_events: Annotated[int, Field(ge=1, le=100_000)] = 1000  # … and at most this many (oldest dropped)
    # true: the admin API may create and replace stdio servers, which run their command on every replica's host;
    # false (the default): stdio servers come only from this file (decision 057)
    admin_stdio: bool = False

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
