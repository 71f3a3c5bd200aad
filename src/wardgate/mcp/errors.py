"""The MCP gateway's own refusals and failures, as JSON-RPC errors, and the principal a request carries."""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from wardgate.core.call import Result
from wardgate.core.errors import WardgateError
from wardgate.core.principal import Principal

__all__ = [
    "FORBIDDEN",
    "INVALID_PARAMS",
    "LIMITED",
    "SCOPE_KEY",
    "UNAUTHORIZED",
    "UPSTREAM",
    "UpstreamFailed",
    "UpstreamTimeout",
    "answer_of",
    "json_rpc_error",
    "principal_of",
    "refusal",
]

SCOPE_KEY = "wardgate.mcp.principal"  # the ASGI scope key the surface puts the authenticated principal under
# JSON-RPC error codes of the gateway's own refusals (the -32000..-32099 range is the server's)
UNAUTHORIZED, FORBIDDEN, LIMITED, UPSTREAM = -32001, -32003, -32029, -32002
INVALID_PARAMS = -32602


class UpstreamTimeout(WardgateError):
    status = 504
    type = "timeout"
    code = "tool_timeout"


class UpstreamFailed(WardgateError):
    status = 502
    type = "upstream_error"
    code = "mcp_upstream_unavailable"


def principal_of(ctx: ServerRequestContext[Any, Any]) -> Principal:
    request = ctx.request
    principal = getattr(request, "scope", {}).get(SCOPE_KEY) if request is not None else None
    if not isinstance(principal, Principal):
        raise MCPError(UNAUTHORIZED, "Not authenticated.")
    return principal


def json_rpc_error(exc: WardgateError) -> MCPError:
    return refusal(exc.status, exc.message, exc.type, exc.code)


def refusal(status: int, message: str, kind: str | None, code: str | None) -> MCPError:
    """The gateway's own refusal as a JSON-RPC error: a guard's block is a refusal like a policy's."""
    rpc = {401: UNAUTHORIZED, 403: FORBIDDEN, 429: LIMITED}.get(status)
    if rpc is None:
        rpc = FORBIDDEN if code == "guard_blocked" else UPSTREAM
    return MCPError(rpc, message, {"status": status, "type": kind, "code": code})


def answer_of(result: Result) -> dict[str, Any]:
    """The pipeline's answer; one a later stage turned into an error (a guard that blocked the tool result) raises
    it as a refusal."""
    if result.status < 400:
        return result.body
    error = result.body.get("error")
    error = error if isinstance(error, dict) else {}
    message, kind, code = error.get("message"), error.get("type"), error.get("code")
    code = code if isinstance(code, str) else None
    raise refusal(result.status, str(message or "Refused."), kind if isinstance(kind, str) else None, code)
